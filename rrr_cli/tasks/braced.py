"""Task files in the seven non-Python languages: the function to complete is the last open one.

"Open" means its body is empty (only whitespace and comments) or runs to the end of the file. The
prompt is the file up to and including that function's opening line(s), as in MultiPL-E; the tests
are the `>>>` examples of the comment just above it, where the language lets us execute them as they
stand (cpp, php, ts, sh, js). For Java and C#, whose examples do not compare reliably as written
(boxed numbers, lists by reference), the tests only close the class and add an empty `main`: the
program must still build, so a candidate that does not compile ranks below one that does.
"""

from __future__ import annotations

import re
from pathlib import Path

from rrr_cli.errors import RrrError
from rrr_cli.records import Task
from rrr_cli.tasks.examples import Example, extract_examples

# A signature: a name, a parameter list (which may span lines), maybe a return type, then `{`.
_SIGNATURE = re.compile(
    r"^(?P<indent>[ \t]*)(?!//|#|\*|/\*)(?P<head>[^\n;{}]*?\b(?P<name>[A-Za-z_$]\w*)\s*\((?P<params>[^;{}]*)\)[^;{}\n=]*)\{[ \t]*$",
    re.MULTILINE)
_KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "function", "foreach", "elseif", "using",
             "lock", "fixed", "synchronized", "until", "select"}
_LINE_COMMENT = {"sh": "#", "php": "(?://|#)"}

# MultiPL-E's stop sequences: where a completion of each language ends.
_STOP = {
    "cpp": ["\n}"],
    "sh": ["\n}"],
    "php": ["\nfunction", "\n?>", "\n//", "\n#"],
    "ts": ["\nfunction ", "\n/*", "\n//", "\nclass"],
    "js": ["\nfunction ", "\n/*", "\n//", "\nconsole.log"],
}
# Languages whose completion closes the function itself (the stop sequence comes after its `}`).
_SELF_CLOSING = {"php", "ts", "js"}


def _strip_comments(body: str, language: str) -> str:
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.DOTALL) if language != "sh" else body
    line = _LINE_COMMENT.get(language, "//")
    return re.sub(rf"{line}[^\n]*", "", body)


def _body_end(text: str, open_brace: int) -> int | None:
    """Index of the `}` that closes the brace at `open_brace`, or None when the file ends first."""
    depth = 0
    for index in range(open_brace, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _examples_check(language: str, examples: list[Example]) -> str:
    lines = []
    for example in examples:
        call, want = example.call, example.expected
        if language == "cpp":
            lines.append(f"    assert({call} == ({want}));")
        elif language in ("js", "ts"):
            lines.append(f"assert.deepEqual({call}, {want});")
        elif language == "php":
            lines.append(f'if (({call}) !== ({want})) {{ throw new Exception("Test failed!"); }}')
        elif language == "sh":
            lines.append(f"[[ {call} = {want} ]]")
    return "\n".join(lines) + ("\n" if lines else "")


def _tests(language: str, examples: list[Example], depth: int, indent: str) -> str:
    checks = _examples_check(language, examples)
    if language == "cpp":
        return "}\n#include <cassert>\nint main() {\n" + checks + "}\n"
    if language == "sh":
        return "}\n\nset -e\n" + checks
    if language == "js":
        return "\nconst assert = require('node:assert');\n" + checks
    if language == "ts":
        return "\ndeclare var require: any;\nconst assert = require('node:assert');\n" + checks
    if language == "php":
        return "\n" + checks
    main = ("public static void main(String[] args) {" if language == "java"
            else "public static void Main(string[] args) {")
    outer = indent[: max(0, len(indent) - 4)]
    closing = "".join("}\n" for _ in range(max(0, depth - 2)))
    return f"{indent}}}\n{indent}{main}\n{indent}}}\n{outer}}}\n" + closing


def braced_task(text: str, name: str, language: str) -> Task:
    """Parse a task file in cpp, java, php, ts, cs, sh or js into a Task (see the module docstring)."""
    signatures = [m for m in _SIGNATURE.finditer(text) if m.group("name") not in _KEYWORDS
                  and not re.match(r"\s*(class|interface|struct|namespace|enum)\b", m.group("head"))]
    chosen = None
    for match in reversed(signatures):
        end = _body_end(text, match.end() - 1)
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
    executable = language not in ("java", "cs")
    tests = _tests(language, examples if executable else [], depth, chosen.group("indent"))
    indent = chosen.group("indent")
    stop = _STOP.get(language, [f"\n{indent}}}\n"])
    task = Task(task_id=Path(name).stem, language=language, prompt=prompt, tests=tests, stop_tokens=stop,
                entry_point=chosen.group("name"), source=name)
    task.extra = {
        "examples": [{"call": e.call, "expected": e.expected} for e in examples],
        "examples_executable": executable and bool(examples),
        "body_start_line": start_line + 1,
        "body_end_line": (text[:body_end].count("\n") + 1) if body_end is not None else text.count("\n") + 1,
        "completion_closes_function": language in _SELF_CLOSING,
    }
    if not task.extra["examples_executable"]:
        task.extra["tests_note"] = ("no runnable examples: the tests only check that the program builds"
                                    if executable else f"{language} examples are not run as they stand: "
                                    "the tests only check that the program builds")
    return task
