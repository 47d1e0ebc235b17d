from typing import List


def unique_in_order(items: List[str]) -> List[str]:
    """Return the items of `items` without repeats, each one kept at the place where it first appears, compared exactly.

    >>> unique_in_order(["b", "a", "b", "c", "a"])
    ['b', 'a', 'c']
    >>> unique_in_order(["x", "X", "x"])
    ['x', 'X']
    >>> unique_in_order([])
    []
    """
