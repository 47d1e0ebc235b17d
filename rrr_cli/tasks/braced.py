"""Task files in the brace languages (every language whose `task_parser` is `braced`): the function
to complete is the last open one.

"Open" means its body is empty (only whitespace and comments) or runs to the end of the file. The
prompt is the file up to and including that function's opening line(s), as in MultiPL-E; the tests
are the `>>>` examples of the comment just above it, each written with the language's
`example_check`, inside its `task_tests`. A language without an `example_check` (Java and C#, whose
examples do not compare reliably as written: boxed numbers, lists by reference) gets tests that only
make the program build, so a candidate that does not compile ranks below one that does. Everything language-specific here comes
from the language's definition (`execution/languages.py`).
"""

from __future__ import annotations

import re
from pathlib import Path

from rrr_cli.brackets import matching
from rrr_cli.errors import RrrError
from rrr_cli.execution.languages import Language, get_language
from rrr_cli.records import Task
from rrr_cli.tasks.examples import Example, extract_examples

# A signature: a name, a parameter list (which may span lines), maybe a return type, then `{`.
_SIGNATURE = re.compile(
    r"^(?P<indent>[ \t]*)(?!//|#|\*|/\*)(?P<head>[^\n;{}]*?\b(?P<name>[A-Za-z_$]\w*)\s*\((?P<params>[^;{}]*)\)[^;{}\n=]*)\{[ \t]*$",
    re.MULTILINE)
_KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "function", "foreach", "elseif", "using",
             "lock", "fixed", "synchronized", "until", "select"}


def _strip_comments(body: str, language: Language) -> str:
    if len(language.block_comment) == 2:
        opener, closer = (re.escape(mark) for mark in language.block_comment)
        body = re.sub(rf"{opener}.*?{closer}", "", body, flags=re.DOTALL)
    if language.line_comment:
        markers = "|".join(re.escape(mark) for mark in language.line_comment)
        body = re.sub(rf"(?:{markers})[^\n]*", "", body)
    return body


def _tests(language: Language, examples: list[Example], depth: int, indent: str) -> str:
    checks = "".join(language.example_check.replace("{call}", e.call).replace("{expected}", e.expected) + "\n"
                     for e in examples) if language.example_check else ""
    outer = indent[: max(0, len(indent) - 4)]
    closing = "".join("}\n" for _ in range(max(0, depth - 2)))
    # The checks go in last, so an example's own text is never taken for a placeholder.
    return (language.task_tests.replace("{indent}", indent).replace("{outer}", outer)
            .replace("{closing}", closing).replace("{checks}", checks))


def braced_task(text: str, name: str, language_name: str) -> Task:
    """Parse a task file in a brace language into a Task (see the module docstring)."""
    language = get_language(language_name)
    signatures = [m for m in _SIGNATURE.finditer(text) if m.group("name") not in _KEYWORDS
                  and not re.match(r"\s*(class|interface|struct|namespace|enum)\b", m.group("head"))]
    chosen = None
    for match in reversed(signatures):
        end = matching(text, match.end() - 1, language)
        body = text[match.end(): end] if end is not None else text[match.end():]
        if not _strip_comments(body, language).strip():
            chosen, body_end = match, end
            break
    if chosen is None:
        raise RrrError(f"{name}: nothing to complete: no function with an empty body "
                       "(a signature ending in `{`, then nothing but comments)")
    prompt = text[: chosen.end()] + "\n"
    start_line = prompt.count("\n")
    previous = [m for m in signatures if m.end() < chosen.start()]
    comment = text[previous[-1].end() if previous else 0: chosen.start()]
    examples = extract_examples(comment)
    depth = prompt.count("{") - prompt.count("}")
    executable = language.example_check is not None
    tests = _tests(language, examples if executable else [], depth, chosen.group("indent"))
    indent = chosen.group("indent")
    stop = [sequence.replace("{indent}", indent) for sequence in language.task_stop]
    task = Task(task_id=Path(name).stem, language=language.name, prompt=prompt, tests=tests, stop_tokens=stop,
                entry_point=chosen.group("name"), source=name)
    task.extra = {
        "examples": [{"call": e.call, "expected": e.expected} for e in examples],
        "examples_executable": executable and bool(examples),
        "body_start_line": start_line + 1,
        "body_end_line": (text[:body_end].count("\n") + 1) if body_end is not None else text.count("\n") + 1,
        "completion_closes_function": language.completion_closes_function,
    }
    if not task.extra["examples_executable"]:
        task.extra["tests_note"] = ("no runnable examples: the tests only check that the program builds"
                                    if executable else f"{language.name} examples are not run as they stand: "
                                    "the tests only check that the program builds")
    return task
