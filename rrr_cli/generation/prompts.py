"""Prompt styles. Whatever the style, a candidate's `completion` is code that continues `task.prompt`.

- completion: the model continues the task's code directly; per-language stop sequences end it.
- chat: an instruct model is asked for the whole completed function in a fenced code block; the
  function's body (and any helpers it wrote) is cut out of the reply and turned back into the
  continuation of the prompt, so every later stage sees the same kind of record.
"""

from __future__ import annotations

import ast
import re
import textwrap

from rrr_cli.errors import RrrError
from rrr_cli.records import Task

STYLES = ("chat", "completion")

LANGUAGE_NAMES = {
    "python": "Python", "cpp": "C++", "java": "Java", "php": "PHP", "ts": "TypeScript",
    "cs": "C#", "sh": "Bash", "js": "JavaScript",
}
FENCE_TAGS = {
    "python": "python", "cpp": "cpp", "java": "java", "php": "php", "ts": "typescript",
    "cs": "csharp", "sh": "bash", "js": "javascript",
}
# The reply's closing fence; the opening one is "```python\n", so this never matches it.
CHAT_STOP = ("\n```\n",)

SYSTEM_PROMPT = "You are an expert programmer. You write correct, complete and efficient code."


def check_style(style: str) -> str:
    if style not in STYLES:
        raise RrrError(f"unknown prompt style {style!r} (known: {', '.join(STYLES)})")
    return style


def chat_messages(task: Task) -> list[dict[str, str]]:
    """The request for an instruct model: complete this function, answer in one code block."""
    name = LANGUAGE_NAMES[task.language]
    tag = FENCE_TAGS[task.language]
    user = (
        f"Complete the following {name} function. Reply with the complete function (signature "
        f"included) in a single ```{tag} code block, and nothing after the code block.\n\n"
        f"```{tag}\n{task.prompt.rstrip()}\n```"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def stop_sequences(task: Task, style: str) -> tuple[str, ...]:
    return CHAT_STOP if style == "chat" else tuple(task.stop_tokens)


_FENCE = re.compile(r"```[ \t]*([\w+#-]*)[ \t]*\n(.*?)(?:\n```|\Z)", re.DOTALL)


def extract_code_block(reply: str, language: str) -> str:
    """The code of the reply's fenced block (the first one tagged with the language, else the first);
    an unfenced reply is taken as code."""
    blocks = _FENCE.findall(reply)
    if not blocks:
        return reply.strip("\n")
    tag = FENCE_TAGS[language]
    for block_tag, code in blocks:
        if block_tag.lower() in (tag, language):
            return code
    return blocks[0][1]


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


def python_continuation(task: Task, code: str) -> str:
    """Turn a complete Python function (plus helpers) into the continuation of `task.prompt`.

    The target function's body replaces the prompt's empty body. Helpers, imports and constants the
    reply defined go after it at module level (Python resolves names at call time, so that works);
    example calls, prints and `if __name__ == "__main__"` blocks are dropped.
    """
    indent = _body_indent(task.prompt)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        # A broken reply stays broken: keep the text after the signature so the verdict says so.
        lines = code.splitlines()
        start = next((i + 1 for i, line in enumerate(lines) if line.lstrip().startswith("def ")), 0)
        return _reindent(lines[start:], indent)
    lines = code.splitlines()
    functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    target = next((f for f in functions if f.name == task.entry_point), None)
    if target is None and functions and not task.entry_point:
        target = functions[-1]
    if target is None:
        # No function of that name: treat the reply as the body itself.
        return _reindent(lines, indent)
    body = target.body
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str) and len(body) > 1):
        body = body[1:]  # the prompt already has the docstring
    first = body[0].lineno - 1
    if getattr(body[0], "decorator_list", None):
        first = min(d.lineno for d in body[0].decorator_list) - 1
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
        extras.append(segment)
    if extras:
        continuation += "\n\n" + "\n\n".join(extras) + "\n"
    return continuation


def _matching_brace(code: str, open_index: int, language: str) -> int | None:
    """Index of the brace closing the one at `open_index`, skipping strings and comments."""
    hash_comments = language in ("sh", "php")
    slash_comments = language != "sh"
    depth, i, quote = 0, open_index, None
    while i < len(code):
        char = code[i]
        if quote:
            if char == "\\":
                i += 2
                continue
            if char == quote:
                quote = None
        elif slash_comments and code.startswith("//", i) or (
                hash_comments and char == "#" and (i == 0 or code[i - 1] in " \t\n")):
            newline = code.find("\n", i)
            i = len(code) if newline < 0 else newline
            continue
        elif slash_comments and code.startswith("/*", i):
            end = code.find("*/", i + 2)
            i = len(code) if end < 0 else end + 2
            continue
        elif char in "\"'`":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def braced_continuation(task: Task, code: str) -> str:
    """For brace languages: the body of the reply's function whose signature ends the prompt.

    MultiPL-E's tests begin by closing the function, so the continuation stops before its `}`.
    Helpers the reply defined outside the function are dropped (they would land after the close).
    """
    signature = task.prompt.rstrip().splitlines()[-1].strip()
    head = signature.rstrip("{").strip()
    name = re.search(r"([A-Za-z_]\w*)\s*\(", head) or re.search(r"([A-Za-z_]\w*)\s*$", head)
    position = code.find(head) if head else -1
    if position < 0 and name:
        found = re.search(rf"\b{re.escape(name.group(1))}\s*\(", code)
        position = found.start() if found else -1
    if position < 0:
        return code.rstrip() + "\n"
    brace = code.find("{", position)
    if brace < 0:
        return code[position:].rstrip() + "\n"
    close = _matching_brace(code, brace, task.language)
    body = code[brace + 1: close if close is not None else len(code)]
    return body.lstrip("\n").rstrip() + "\n"


def to_completion(task: Task, style: str, text: str) -> str:
    """The continuation of `task.prompt` that a backend's raw text stands for in this style."""
    if style == "completion":
        return text
    code = extract_code_block(text, task.language)
    if task.language == "python":
        return python_continuation(task, code)
    return braced_continuation(task, code)
