"""A single task file a user wrote: the last function with a signature and a doc comment but no
body is the one to complete. The file's extension says its language."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

from rrr_cli.errors import RrrError
from rrr_cli.execution.languages import by_extension, get_language
from rrr_cli.records import Task, read_text_file
from rrr_cli.tasks.examples import extract_examples, python_examples_check

class _Extensions(Mapping[str, str]):
    """Task-file extension -> language, over every installed language (asked when first used, so a
    language plugin's extensions count)."""

    def __getitem__(self, extension: str) -> str:
        return by_extension()[extension]

    def __iter__(self) -> Iterator[str]:
        return iter(by_extension())

    def __len__(self) -> int:
        return len(by_extension())


EXTENSIONS: Mapping[str, str] = _Extensions()


def _is_empty_body(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return all(
        isinstance(statement, ast.Pass)
        or (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            and statement.value.value is Ellipsis)
        for statement in body
    )


def python_task(text: str, name: str) -> Task:
    """Parse a Python task file into a Task whose prompt ends right after the docstring."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise RrrError(f"{name}:{exc.lineno}: not valid Python: {exc.msg}") from None
    functions = [node for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_empty_body(node)]
    if not functions:
        raise RrrError(f"{name}: nothing to complete: no function with an empty body "
                       "(a signature and a docstring, optionally `pass` or `...`)")
    function = max(functions, key=lambda node: node.lineno)
    lines = text.splitlines(keepends=True)
    docstring = ast.get_docstring(function, clean=False)
    if docstring is not None:
        prompt_end = function.body[0].end_lineno
    else:
        # No docstring: the prompt ends with the signature (the line holding the colon).
        prompt_end = function.body[0].lineno - 1 if function.body[0].lineno > function.lineno \
            else function.lineno
    prompt = "".join(lines[:prompt_end])
    if not prompt.endswith("\n"):
        prompt += "\n"
    examples = extract_examples(docstring or "")
    task = Task(task_id=Path(name).stem, language="python", prompt=prompt,
                tests=python_examples_check(examples), stop_tokens=list(get_language("python").task_stop),
                entry_point=function.name, source=name)
    task.extra = {
        "examples": [{"call": e.call, "expected": e.expected} for e in examples],
        # Where the body goes back when `rrr solve --write` edits the file.
        "body_start_line": prompt_end + 1,
        "body_end_line": function.end_lineno,
    }
    return task


def load_task_file(path: Path) -> Task:
    language = EXTENSIONS.get(path.suffix)
    if language is None:
        raise RrrError(f"{path}: unknown task file extension {path.suffix!r} "
                       f"(known: {', '.join(sorted(EXTENSIONS))})")
    text = read_text_file(path, "task file")
    if get_language(language).task_parser == "python":
        return python_task(text, str(path))
    from rrr_cli.tasks.braced import braced_task

    return braced_task(text, str(path), language)
