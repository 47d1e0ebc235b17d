def is_palindrome(text: str) -> bool:
    """Return True if `text` reads the same forwards and backwards, ignoring case and spaces.

    >>> is_palindrome("Never odd or even")
    True
    >>> is_palindrome("rrr")
    True
    >>> is_palindrome("abca")
    False
    """
