from typing import List, Optional


def second_largest(numbers: List[int]) -> Optional[int]:
    """Return the second largest distinct value in `numbers`, or None when there are fewer than two
    distinct values."""
