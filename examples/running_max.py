from typing import List


def running_max(numbers: List[int]) -> List[int]:
    """Return a list whose i-th element is the largest of numbers[0..i].

    >>> running_max([1, 3, 2, 5, 4])
    [1, 3, 3, 5, 5]
    >>> running_max([])
    []
    >>> running_max([-2, -5, -1])
    [-2, -2, -1]
    """
