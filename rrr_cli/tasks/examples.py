"""Examples in a prompt (`>>> call` followed by the expected result) and the tests built from them.

These are the "public examples": the only tests a user's task file carries, and the CodeT-style
signal that ranks candidates when no learned reranker is at hand.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from rrr_cli.brackets import CLOSERS, PAIRS, code


@dataclass(frozen=True)
class Example:
    call: str  # the expression after `>>>` (continuation lines joined)
    expected: str  # the text the docstring shows as its result


_PROMPT = re.compile(r"^\s*(#|//|\*)?\s*>>>\s?(.*)$")
_CONTINUATION = re.compile(r"^\s*(?:#|//|\*)?\s*\.\.\.\s?(.*)$")
_COMMENT_PREFIX = re.compile(r"^\s*(?:#|//|\*)?\s?")


def extract_examples(text: str) -> list[Example]:
    """The `>>>` examples of a docstring or comment block, in order.

    Works for Python docstrings and for the `// >>>`, `# >>>` and ` * >>>` comment styles used by
    the MultiPL-E translations. An example without an expected result (a statement) is skipped.
    """
    lines = text.splitlines()
    examples: list[Example] = []
    i = 0
    while i < len(lines):
        match = _PROMPT.match(lines[i])
        if not match:
            i += 1
            continue
        marker = match.group(1)  # a comment marker the expected lines must carry too
        call = [match.group(2).rstrip()]
        i += 1
        while i < len(lines) and (cont := _CONTINUATION.match(lines[i])):
            call.append(cont.group(1).rstrip())
            i += 1
        expected = []
        while i < len(lines):
            line = lines[i]
            if marker and not line.lstrip().startswith(marker):
                break
            body = _COMMENT_PREFIX.sub("", line, count=1).strip()
            if not body or _PROMPT.match(line) or body.startswith('"""') or body.startswith("'''"):
                break
            if expected and _closed("\n".join(expected)):
                # The result is complete: what follows is prose (MultiPL-E's comments run on into
                # `Example 2:` or a sentence with no blank line between).
                break
            expected.append(body)
            i += 1
        source = "\n".join(call).strip()
        if source and expected:
            examples.append(Example(call=source, expected="\n".join(expected)))
    return examples


def _closed(text: str) -> bool:
    """Whether every bracket opened in `text` (outside string literals) is closed."""
    depth = 0
    for _, char in code(text):
        if char in PAIRS:
            depth += 1
        elif char in CLOSERS:
            depth -= 1
    return depth <= 0


def python_example_check(example: Example) -> str:
    """A Python snippet that exits non-zero unless `example` holds.

    The expected text is compared as a value when it parses as a Python literal/expression
    (so `[1, 2]` matches whatever prints as `[1, 2]`), else against `repr()` and `str()` of the result.
    """
    try:
        ast.parse(example.expected, mode="eval")
        want = f"({example.expected})"
        compare = "__rrr_got == __rrr_want"
    except SyntaxError:
        want = repr(example.expected)
        compare = "repr(__rrr_got) == __rrr_want or str(__rrr_got) == __rrr_want"
    return (
        "\n\n"
        # The call on its own line inside the parentheses, so a trailing `# comment` is harmless.
        f"__rrr_got = (\n{example.call}\n)\n"
        f"__rrr_want = {want}\n"
        f"assert {compare}, 'example failed: ' + {example.call!r}\n"
    )


def python_examples_check(examples: list[Example]) -> str:
    """All examples as one test block (the task's `tests` for a task file)."""
    return "".join(python_example_check(example) for example in examples)
