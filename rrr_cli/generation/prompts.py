"""Prompt styles. Whatever the style, a candidate's `completion` is code that continues `task.prompt`.

- completion: the model continues the task's code directly; per-language stop sequences end it.
- auto (the default): the style the language's definition prefers (`prompt_style`: chat for Python,
  completion for the other seven, the better style per language in our measurement, docs/prompt-styles.md; greedy, first 20 HumanEval tasks of each).
- chat: an instruct model is asked, through its chat template, for the whole completed function in
  a fenced code block, and its reply is started for it with the fence and the prompt's code
  ("response prefix"). The model then writes only the body (not the signature and docstring again,
  which halves the tokens) while answering as the assistant it was tuned to be. The function's body,
  and any helpers it wrote, become the continuation of the prompt, so every later stage sees the same
  kind of record.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator, Mapping

from rrr_cli.brackets import matching
from rrr_cli.errors import RrrError
from rrr_cli.execution.languages import get_language, languages
from rrr_cli.records import Task

STYLES = ("auto", "chat", "completion")


class _LanguageField(Mapping[str, str]):
    """One field of every installed language's definition, by language name."""

    def __init__(self, attribute: str):
        self.attribute = attribute

    def __getitem__(self, language: str) -> str:
        found = languages().get(language)
        if found is None:
            raise KeyError(language)
        return getattr(found, self.attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(languages())

    def __len__(self) -> int:
        return len(languages())


# Views onto the language definitions, for callers that index by language name.
LANGUAGE_NAMES: Mapping[str, str] = _LanguageField("display_name")
FENCE_TAGS: Mapping[str, str] = _LanguageField("fence")


def language_name(language: str) -> str:
    """How prompts name the language ("C++", "TypeScript"): its definition's `display_name`."""
    return get_language(language).display_name


def fence_tag(language: str) -> str:
    """The Markdown fence tag of the language's code blocks: its definition's `fence`."""
    return get_language(language).fence


# The reply's closing fence (the opening one is part of the prefilled reply).
CHAT_STOP = ("\n```",)

SYSTEM_PROMPT = "You are an expert programmer. You write correct, complete and efficient code."


def check_style(style: str) -> str:
    if style not in STYLES:
        raise RrrError(f"unknown prompt style {style!r} (known: {', '.join(STYLES)})")
    return style


def style_for(task: Task, style: str) -> str:
    """The concrete style (chat or completion) for this task: `auto` picks by the task's language."""
    if style == "auto":
        return get_language(task.language).prompt_style
    return style


def chat_messages(task: Task) -> list[dict[str, str]]:
    """The request for an instruct model: complete this function, answer in one code block."""
    name = language_name(task.language)
    tag = fence_tag(task.language)
    user = (
        f"Complete the following {name} function. Reply with the complete function (signature "
        f"included) in a single ```{tag} code block, and nothing after the code block.\n\n"
        f"```{tag}\n{task.prompt.rstrip()}\n```"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def stop_sequences(task: Task, style: str) -> tuple[str, ...]:
    return CHAT_STOP if style == "chat" else tuple(task.stop_tokens)


def reply_prefix(task: Task) -> str:
    """The start of the assistant's reply in chat style: the opening fence and the prompt's code."""
    return f"```{fence_tag(task.language)}\n{task.prompt}"


def _body_indent(prompt: str) -> str:
    """Indentation of the function body the prompt opens (from its docstring, else 4 spaces)."""
    for line in reversed(prompt.splitlines()):
        if line.strip():
            indent = line[: len(line) - len(line.lstrip())]
            return indent if not line.lstrip().startswith(("def ", "async def ")) else indent + "    "
    return "    "


def _reindent(lines: list[str], indent: str) -> str:
    body = textwrap.dedent("\n".join(lines))
    return textwrap.indent(body, indent, lambda line: bool(line.strip())) + "\n"


_KEPT_TOP_LEVEL = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                   ast.Assign, ast.AnnAssign)


def python_continuation(task: Task, text: str) -> str:
    """Turn the model's continuation of the prompt (body plus, perhaps, helpers and example calls)
    into a clean continuation of `task.prompt`.

    The target function's body replaces the prompt's empty body. Helpers, imports and constants the
    reply defined go after it at module level (Python resolves names at call time, so that works);
    example calls, prints and `if __name__ == "__main__"` blocks are dropped.
    """
    indent = _body_indent(task.prompt)
    code = task.prompt + text
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return text  # a broken reply stays broken, so its verdict says so
    lines = code.splitlines()
    functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    target = next((f for f in functions if f.name == task.entry_point), None)
    if target is None and functions and not task.entry_point:
        target = functions[-1]
    if target is None:
        return text
    body = target.body
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str) and len(body) > 1):
        body = body[1:]  # the prompt already has the docstring
    first = min([body[0].lineno, *[d.lineno for d in getattr(body[0], "decorator_list", [])]]) - 1
    continuation = _reindent(lines[first: target.end_lineno], indent)
    prompt_lines = set(task.prompt.splitlines())
    extras = []
    for node in tree.body:
        if node is target or not isinstance(node, _KEPT_TOP_LEVEL):
            continue
        start = min([node.lineno, *[d.lineno for d in getattr(node, "decorator_list", [])]]) - 1
        segment = "\n".join(lines[start: node.end_lineno])
        if isinstance(node, (ast.Import, ast.ImportFrom)) and segment.strip() in prompt_lines:
            continue
        if segment.strip() in task.prompt:  # a helper the prompt itself defines
            continue
        extras.append(segment)
    if extras:
        continuation += "\n\n" + "\n\n".join(extras) + "\n"
    return continuation


def braced_body(task: Task, text: str) -> str:
    """For brace languages: the function body that `text` continues, up to its closing brace.

    Where the tests begin by closing the function (MultiPL-E's C++, Java, C#, Bash), the
    continuation stops before its `}`; otherwise (PHP, TypeScript, JavaScript) it includes it.
    Anything the model wrote after the function is dropped.
    """
    code = task.prompt + text
    brace = task.prompt.rfind("{")
    if brace < 0:
        return text
    close = matching(code, brace, get_language(task.language))
    if close is None or close < len(task.prompt):
        return text
    if not task.tests.lstrip().startswith("}"):
        close += 1
    return code[len(task.prompt): close].rstrip() + "\n"


def to_completion(task: Task, style: str, text: str) -> str:
    """The continuation of `task.prompt` that a backend's raw text stands for in this style."""
    if style == "completion":
        return text
    text = text.split("```", 1)[0]  # a closing fence the stop sequence did not catch
    if get_language(task.language).task_parser == "python":
        return python_continuation(task, text)
    return braced_body(task, text)
