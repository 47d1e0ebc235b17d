"""The one bracket scanner: where a bracket closes, where an expression ends, where a list splits.

Task files (`tasks/braced.py`), chat replies (`generation/prompts.py`), the public-examples harness
(`tasks/examples.py`) and probe inputs (`ranking/probe_inputs.py`) all read code this way: string
literals (`"`, `'`, backquote, backslash escapes) are skipped, and so are comments when a language is
given (its definition's `line_comment` and `block_comment`; a one-character line-comment marker such as
`#` counts only at the start of a line or after a blank, so bash's `$#` stays code).
"""

from __future__ import annotations

from typing import Any, Iterator

PAIRS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {closer: opener for opener, closer in PAIRS.items()}
QUOTES = "\"'`"


def code(text: str, start: int = 0, language: Any = None) -> Iterator[tuple[int, str]]:
    """(index, character) of each character from `start` on that is code: not inside a string
    literal, nor (with a `language`) a comment. The quotes themselves are not yielded."""
    line_comments = tuple(getattr(language, "line_comment", ()) or ())
    block = tuple(getattr(language, "block_comment", ()) or ())
    quote = None
    i, end = start, len(text)
    while i < end:
        char = text[i]
        if quote:
            if char == "\\":
                i += 2
                continue
            if char == quote:
                quote = None
            i += 1
            continue
        if char in QUOTES:
            quote = char
            i += 1
            continue
        if len(block) == 2 and text.startswith(block[0], i):
            close = text.find(block[1], i + len(block[0]))
            i = end if close < 0 else close + len(block[1])
            continue
        marker = next((m for m in line_comments if text.startswith(m, i)), None)
        if marker and (len(marker) > 1 or i == 0 or text[i - 1] in " \t\n"):
            newline = text.find("\n", i)
            i = end if newline < 0 else newline
            continue
        yield i, char
        i += 1


def matching(text: str, open_index: int, language: Any = None) -> int | None:
    """Index of the bracket that closes the one at `open_index`; None when the text ends first."""
    opener = text[open_index]
    closer = PAIRS[opener]
    depth = 0
    for i, char in code(text, open_index, language):
        if char == opener:
            depth += 1
        elif char == closer:
            depth -= 1
            if depth == 0:
                return i
    return None


def expression_end(text: str, start: int, language: Any = None, stops: str = ";") -> int | None:
    """Index just past the expression that starts at `start`: the first closer with no opener, or a
    `stops` character outside brackets, or the end of the text. None for mismatched brackets or
    brackets still open at the end."""
    stack: list[str] = []
    for i, char in code(text, start, language):
        if char in PAIRS:
            stack.append(char)
        elif char in CLOSERS:
            if not stack:
                return i
            if stack.pop() != CLOSERS[char]:
                return None
        elif char in stops and not stack:
            return i
    return len(text) if not stack else None


def split_top_level(text: str, separator: str = ",", language: Any = None, angle_brackets: bool = False) -> list[str]:
    """`text` cut at the separators outside brackets and strings, the parts stripped (empty ones dropped).
    `angle_brackets`: `<...>` after a name is a bracket too (C++, Java and C# template arguments)."""
    parts, depth, start = [], 0, 0
    for i, char in code(text, 0, language):
        if char in PAIRS:
            depth += 1
        elif char in CLOSERS:
            depth -= 1
        elif angle_brackets and char == "<" and i and (text[i - 1].isalnum() or text[i - 1] in "_:"):
            depth += 1
        elif angle_brackets and char == ">" and depth > 0 and text[i - 1] != "-":
            depth -= 1
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


__all__ = ["code", "matching", "expression_end", "split_top_level", "PAIRS", "CLOSERS"]
