"""Examples in a prompt (`>>> call` followed by the expected result) and the tests built from them.

These are the "public examples": the only tests a user's task file carries, and the CodeT-style
signal that ranks candidates when no learned reranker is at hand. `example_checks` turns a task's
examples into the programs' tails the `public_examples` scorer runs (`ranking.scorers`), in any of
the eight languages: Python's through `python_example_check`, the others' shaped like a line of the
task's own test harness (`AssertionTemplate`).
"""

from __future__ import annotations

import ast
import contextlib
import re
from dataclasses import dataclass

from rrr_cli.brackets import CLOSERS, PAIRS, code, expression_end
from rrr_cli.execution.languages import get_language
from rrr_cli.records import Task


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


# --- the checks the public-examples scorer runs ------------------------------------------------

def _assertion(language: str) -> re.Pattern[str] | None:
    """The line of a MultiPL-E test harness that asserts one case: the language's `assertion_line`."""
    pattern = get_language(language).assertion_line
    return re.compile(pattern) if pattern else None


@dataclass(frozen=True)
class AssertionTemplate:
    """One test line of the task's harness cut around its call and its expected value."""

    head: str  # everything up to the callee's name, e.g. "    assert("
    callee: str  # the name the harness calls: `candidate` or the function's own name
    separator: str  # between the call and the expected value, e.g. " == " or ".equals("
    tail: str  # after the expected value, e.g. ");"

    def render(self, example: Example) -> str:
        call = re.sub(r"^\s*[A-Za-z_$][\w$]*", self.callee, example.call.strip(), count=1)
        expected = " ".join(line.strip() for line in example.expected.splitlines())
        return f"{self.head}{call}{self.separator}{expected}{self.tail}"


def _template(language: str, line: str) -> AssertionTemplate | None:
    if get_language(language).call_style == "command":
        match = re.match(r"^(\s*\[\[\s+\$\()(\w+)(.*)\)\s+=\s+(.*?)(\s*\]\])\s*$", line)
        if not match:
            return None
        head, callee = match.group(1)[:-2], match.group(2)
        # The example's call is the whole `$(name args)`; rename inside it.
        return _CommandTemplate(head=head, callee=callee, separator=" = ", tail=match.group(5))
    pattern = _assertion(language)
    match = pattern.match(line) if pattern else None
    call = re.compile(r"[A-Za-z_$][\w$]*\s*\(").search(line, match.end()) if match else None
    if not call:
        return None
    callee = call.group(0).rstrip("(").strip()
    call_end = expression_end(line, call.end())
    if call_end is None or call_end >= len(line):
        return None
    rest_start = call_end + 1
    separator = re.match(r"\s*(?:===|!==|==|!=|,|\.(?:equals|Equals|SequenceEqual)\()\s*", line[rest_start:])
    if not separator:
        return None
    expected_start = rest_start + separator.end()
    expected_end = expression_end(line, expected_start)
    if expected_end is None or expected_end == expected_start:
        return None
    return AssertionTemplate(head=line[: call.start()], callee=callee, separator=separator.group(0),
                             tail=line[expected_end:])


class _CommandTemplate(AssertionTemplate):
    """A harness line whose call is a command substitution, `[[ $(name args) = expected ]]` (bash)."""

    def render(self, example: Example) -> str:
        call = example.call.strip()
        call = re.sub(r"^\$\(\s*[\w-]+", f"$({self.callee}", call, count=1)
        expected = " ".join(line.strip() for line in example.expected.splitlines())
        return f"{self.head}{call}{self.separator}{expected}{self.tail}"


_ARROW = re.compile(r"\s*(?:==>|==|➞|=>|->|#\s*=>|#\s*returns?|should return|returns?)\s*")
_LEAD = re.compile(r"^\s*(?:[*-]\s+|for\s+|assert\s+|>>>\s*)?")


def _python_literal_prefix(text: str) -> str | None:
    """The longest leading part of `text` that parses as a Python expression (drops trailing prose)."""
    text = text.strip().rstrip(".")
    for end in sorted({len(text), *[m.start() for m in re.finditer(r"\s[#(]|\s{2,}", text)]}, reverse=True):
        candidate = text[:end].strip().rstrip(".")
        try:
            ast.parse(candidate, mode="eval")
        except SyntaxError:
            continue
        # A trailing `# comment` parses too, but would swallow the bracket the check wraps it in.
        for comment in re.finditer(r"\s#", candidate):
            with contextlib.suppress(SyntaxError):
                ast.parse(candidate[: comment.start()], mode="eval")
                return candidate[: comment.start()].strip()
        return candidate
    return None


def _without_comment(example: Example) -> Example:
    """`f(x)  # prose` as `f(x)`: a comment in the call would swallow the rest of the check's line."""
    call = _python_literal_prefix(example.call)
    return Example(call=call, expected=example.expected) if call else example


def python_inline_examples(task: Task) -> list[Example]:
    """Examples written on one line in the many other styles HumanEval's prompts use:
    `f(x) == y`, `f(x) ➞ y`, `f(x) => y`, `f(x) # returns y`, `>>> f(x) == y`, `* f(x) -> y`, ...
    Only calls of the task's own function count; the expected part must parse as Python."""
    if not task.entry_point:
        return []
    examples = []
    for line in task.prompt.splitlines():
        lead = _LEAD.match(line)
        start = lead.end() if lead else 0
        if not line.startswith(f"{task.entry_point}(", start):
            continue
        end = expression_end(line, start + len(task.entry_point) + 1)
        if end is None or end >= len(line):
            continue
        arrow = _ARROW.match(line, end + 1)
        if not arrow:
            continue
        expected = _python_literal_prefix(line[arrow.end():])
        call = line[start:end + 1]
        if expected:
            try:
                ast.parse(call, mode="eval")
            except SyntaxError:
                continue
            examples.append(Example(call=call, expected=expected))
    return examples


@dataclass(frozen=True)
class ExampleChecks:
    """What the public-examples scorer runs for one task: the programs' tails, to go after
    `prompt + completion`. `examples` is empty when it falls back to a build check."""

    examples: tuple[Example, ...]
    tails: tuple[str, ...]  # one per example, or one build-check tail in the fallback
    fallback: bool


def example_checks(task: Task) -> ExampleChecks:
    """The per-example test tails for a task in any of the eight languages.

    Python runs each example through `python_example_check`. The MultiPL-E languages reuse the
    task's own harness (its `main`, `candidate` wrapper, imports) with the hidden assertions taken
    out and one assertion per example put in, shaped like the harness's first assertion line. With
    no examples (or a harness we cannot read) the tail is the harness with no assertions: the
    program then only has to build and load.
    """
    examples = list(task.extra.get("examples") or []) if isinstance(task.extra, dict) else []
    parsed = [Example(**e) if isinstance(e, dict) else e for e in examples] or extract_examples(task.prompt)
    if get_language(task.language).task_parser == "python":
        parsed = [_without_comment(e) for e in parsed] or python_inline_examples(task)
        if parsed:
            return ExampleChecks(tuple(parsed), tuple(python_example_check(e) for e in parsed), False)
        return ExampleChecks((), ("\n",), True)
    lines = task.tests.splitlines(keepends=True)
    pattern = _assertion(task.language)
    assertion_rows = [i for i, line in enumerate(lines) if pattern and pattern.match(line)]
    if not assertion_rows:
        # No harness we recognise: the program is prompt + completion alone.
        return ExampleChecks((), ("\n",), True)
    template = _template(task.language, lines[assertion_rows[0]].rstrip("\n"))
    keep_before = "".join(lines[: assertion_rows[0]])
    keep_after = "".join(line for i, line in enumerate(lines)
                         if i > assertion_rows[0] and i not in set(assertion_rows))
    if template is None or not parsed:
        empty, first = get_language(task.language).empty_statement, lines[assertion_rows[0]]
        indent = first[: len(first) - len(first.lstrip())]
        return ExampleChecks((), (keep_before + (f"{indent}{empty}\n" if empty else "") + keep_after,), True)
    tails = tuple(keep_before + template.render(e) + "\n" + keep_after for e in parsed)
    return ExampleChecks(tuple(parsed), tails, False)
