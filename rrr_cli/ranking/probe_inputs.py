"""Probe inputs for a task: the call inputs the consensus scorer runs every candidate on.

Never from the hidden tests. Each input is labelled with where it came from:

- `example`: the arguments of the prompt's own examples (the `>>>` lines and MultiPL-E's translated
  examples, as `public_examples` parses them; MBPP's visible `assert` in the docstring);
- `mutation`: small type-preserving changes of one example argument, made only where the literal's
  type is evident from its text: ±1 on an integer (never crossing zero), an empty, one-element or
  first-element-duplicated list/vector/array, an empty string; in the language's own literal syntax;
- `generated`: calls the generator wrote: `generated_inputs` asks the same model (two short greedy
  generations per task, `STYLES`) for more calls of the function and parses them like the examples.
  One reply is opened on the first call's name and parenthesis (`call_opening`): without it the
  default 0.5B model began by copying the prompt in 4 of 7 languages and wrote no call in C++, PHP
  or Bash for HumanEval/41; the other is left free, as it writes list arguments better.

An input is the text of one call's argument list in the task's language, without the function's name
or the parentheses (the form `rrr_cli.execution.probes.run_probes` takes; for bash, the words after
the function's name). Inputs are deduplicated and capped per task.

Every fact about a language's syntax here comes from its definition (`execution/languages.py`: how a
call is written and shown, how its arguments are joined, how an integer, a string and a list are
written, what the prompt says of untyped arguments), so a plugin language's probes are varied like a
built-in one's. Two kinds of language read calls their own way: one whose `task_parser` is `python`
with Python's parser, one whose `call_style` is `command` (bash) as a command and its words.

This lives in `ranking/`, not `execution/`: it reads the prompt the way the example scorer does (and
reuses its parsing, `tasks.examples.example_checks`), and execution stays a layer that runs what it is
given.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Iterable, Sequence

from rrr_cli.brackets import expression_end, matching, split_top_level
from rrr_cli.execution.languages import Language, get_language
from rrr_cli.execution.probes import entry_point
from rrr_cli.generation.base import Backend, Generation, SamplingParams
from rrr_cli.generation.prompts import FENCE_TAGS, LANGUAGE_NAMES, SYSTEM_PROMPT
from rrr_cli.records import Task
from rrr_cli.tasks.examples import Example, example_checks, extract_examples

MAX_PROBES = 16
SOURCES = ("example", "mutation", "generated")

_CALL = re.compile(r"^\s*[A-Za-z_$][\w$.]*\s*\(")
# A command-style call (`call_style = "command"`): `$(name args)`, a command substitution.
_COMMAND_CALL = re.compile(r"^\s*\$\(\s*[\w-]+\s*(.*)\)\s*$", re.DOTALL)
# One word of a command's arguments (`argument_separator` of whitespace): a quoted string, or no spaces.
_WORD = re.compile(r'"(?:\\.|[^"\\])*"' + r"|'[^']*'|\S+")
_DECIMAL = re.compile(r"-?\d+")  # a word that is an integer (quoted or not: a word carries no type)


@lru_cache(maxsize=None)
def _pattern(text: str, flags: int = 0) -> re.Pattern:
    return re.compile(text, flags)


def _reads_python(language: Language) -> bool:
    return language.task_parser == "python"


def _is_command(language: Language) -> bool:
    return language.call_style == "command"


def _takes_words(language: Language) -> bool:
    return not language.argument_separator.strip()


@dataclass(frozen=True)
class Probe:
    """One call input and where it came from (`example`, `mutation` or `generated`)."""

    input: str
    source: str

    def to_dict(self) -> dict:
        return asdict(self)


# --- reading the examples' arguments --------------------------------------------------------------

def _python_arguments(call: str, entry: str) -> str | None:
    """The argument text of the first call of `entry` in a Python expression (`sorted(f(x))` → `x`)."""
    source = call.strip()
    try:
        tree = ast.parse(source)  # an expression, or a statement around one (`assert f(x) == 1`)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry:
            if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
                return None
            text = ast.get_source_segment(source, node) or ""
            return text[text.index("(") + 1:-1].strip()
    return None


def _braced_arguments(call: str) -> str | None:
    """The argument text of `name(args)` when the call is the whole expression (a C-like language)."""
    text = call.strip().rstrip(";").strip()
    match = _CALL.match(text)
    if not match:
        return None
    end = expression_end(text, match.end())
    if end is None or end != len(text) - 1 or text[end] != ")":
        return None
    return text[match.end():end].strip()


def _arguments(task: Task, call: str, entry: str, any_name: bool = False) -> str | None:
    """The argument text of one call of the task's function written in its language (None if it is not)."""
    language = get_language(task.language)
    if _reads_python(language):
        return _python_arguments(call, entry)
    if _is_command(language):
        match = _COMMAND_CALL.match(call)
        words = call.strip().split(None, 1)
        if match and (any_name or words[0] == "$(" + entry):
            return match.group(1).strip()
        return (words[1] if len(words) > 1 else "") if words and words[0] == entry else None
    callee = _CALL.match(call.strip())
    name = callee.group(0).rstrip("( \t").split(".")[-1] if callee else ""
    return _braced_arguments(call) if any_name or name in (entry, "candidate") else None


def _mbpp_asserts(task: Task) -> list[str]:
    """The calls in a Python prompt's visible `assert` lines (MBPP's "Your code should pass this test")."""
    calls = []
    for line in task.prompt.splitlines():
        _, found, rest = line.partition("assert ")
        if found and not line[: line.index("assert ")].strip().startswith("#"):
            calls.append("assert " + rest.strip())
    return calls


def example_inputs(task: Task) -> list[str]:
    """The argument lists of the prompt's own examples, in order (duplicates kept)."""
    python = _reads_python(get_language(task.language))
    if python:
        examples = [example.call for example in example_checks(task).examples]
    else:
        # The same parse `example_checks` makes, without needing a test harness to put them in.
        given = list(task.extra.get("examples") or []) if isinstance(task.extra, dict) else []
        parsed = [Example(**e) if isinstance(e, dict) else e for e in given] or extract_examples(task.prompt)
        examples = [example.call for example in parsed]
    entry = entry_point(task)
    # The prompt's own examples may call the function by another name (PHP's `strlen` for `string_length`).
    inputs = [_arguments(task, call, entry, any_name=True) for call in examples]
    if python and not examples:
        for line in _mbpp_asserts(task):
            try:
                tree = ast.parse(line)
            except SyntaxError:
                continue
            if tree.body and isinstance(tree.body[0], ast.Assert):
                test = ast.get_source_segment(line, tree.body[0].test) or ""
                inputs.append(_python_arguments(test, entry))
    return [text for text in inputs if text is not None]


# --- mutations ------------------------------------------------------------------------------------

def split_top(text: str, language: str, separator: str = ",") -> list[str]:
    """`text` cut at the separators outside brackets, strings and (C++/Java/C#) template arguments."""
    return split_top_level(text, separator, angle_brackets=get_language(language).angle_brackets)


def _unwrap(argument: str) -> tuple[str, str, str]:
    """`(x)` as ("(", "x", ")") when the parentheses wrap the whole argument, else ("", x, "")."""
    text = argument.strip()
    if text.startswith("(") and expression_end(text, 1) == len(text) - 1 and text.endswith(")"):
        inner_open, inner, inner_close = _unwrap(text[1:-1])
        return "(" + inner_open, inner, inner_close + ")"
    return "", text, ""


def _is_string(text: str, language: Language) -> bool:
    quotes = language.literal_string_quotes
    return len(text) >= 2 and text[0] in quotes and text[-1] == text[0] and \
        expression_end(text + ")", 0) == len(text)


def _list_variants(text: str, language: Language) -> list[str]:
    """A list literal (`literal_list_pattern`) empty, with its first element alone, and with it twice."""
    pattern = _pattern(language.literal_list_pattern, re.DOTALL) if language.literal_list_pattern else None
    match = pattern.match(text) if pattern else None
    if not match:
        return []
    items = split_top(match.group("items"), language.name)
    if language.literal_map_entry and any(language.literal_map_entry in item for item in items):
        return []  # a map written like a list (PHP's associative array): a duplicated key means nothing
    if not items:
        return []
    return [language.write_list(elements, match) for elements in ([], items[:1], [items[0], *items])]


def _argument_variants(argument: str, language: Language) -> list[str]:
    """Type-preserving variants of one argument (the same type, evident from the literal's text)."""
    opening, text, closing = _unwrap(argument)
    variants: list[str] = []
    integer = _pattern(language.literal_integer_pattern, re.DOTALL).match(text)
    if integer:
        digits = int(integer.group("digits"))
        before, after = text[:integer.start("digits")], text[integer.end("digits"):]
        for value in (digits + 1, digits - 1):
            if (value < 0) == (digits < 0) or digits == 0 and value > 0:
                variants.append(f"{before}{value}{after}")
    elif _is_string(text, language) and len(text) > 2:
        variants.append(text[0] * 2)
        if len(text) > 3 and text[1] not in "\\$" + text[0]:
            variants.append(text[:2] + text[0])  # its first character alone
    else:
        variants.extend(_list_variants(text, language))
    return [opening + variant + closing for variant in variants]


def _python_variants(argument: str) -> list[str]:
    try:
        value = ast.literal_eval(argument)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return []
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [repr(v) for v in (value + 1, value - 1) if (v < 0) == (value < 0) or value == 0 and v > 0]
    if isinstance(value, str):
        return [repr(v) for v in ("", value[:1]) if v != value]
    if isinstance(value, list) and value:
        return [repr([]), repr(value[:1]), repr([value[0], *value])]
    return []


def _word_list_variants(word: str, language: Language) -> list[str]:
    """A quoted list of space-separated items (bash's way of passing one): empty, its first item, that
    item twice."""
    quotes = language.literal_string_quotes
    quote = word[0] if len(word) > 1 and word[0] in quotes and word[-1] == word[0] else ""
    items = (word[1:-1] if quote else word).split()
    if not items:
        return []
    quote = quote or quotes[0]
    return [quote * 2, quote + items[0] + quote, quote + " ".join([items[0], *items]) + quote]


def argument_kinds(prompt: str, language: str) -> dict[int, str] | None:
    """What the prompt says each positional argument is, by index, where the language's words carry no
    type and its prompts say (`argument_kinds_pattern`: bash's `# $1 is a space-separated list`); None
    for a language that has no such pattern."""
    pattern = get_language(language).argument_kinds_pattern
    if not pattern:
        return None
    return {int(number) - 1: kind.strip().rstrip(".")
            for number, kind in _pattern(pattern, re.MULTILINE).findall(prompt)}


def sh_argument_kinds(prompt: str) -> dict[int, str]:
    """`argument_kinds` of a bash prompt (the name it had when bash was the only such language)."""
    return argument_kinds(prompt, "sh") or {}


def _word_variants(word: str, index: int, language: Language, kinds: dict[int, str] | None) -> list[str]:
    """Variants of one word of a command's arguments: an integer inside its quotes, a list the prompt
    says is one (`list_argument_kind`), else as any other literal."""
    quotes = language.literal_string_quotes
    quote = word[0] if word[0] in quotes and len(word) > 1 and word[-1] == word[0] else ""
    bare = word[1:-1] if quote else word
    if _DECIMAL.fullmatch(bare):
        return [quote + variant + quote for variant in _python_variants(bare)]
    if language.list_argument_kind and (kinds or {}).get(index) == language.list_argument_kind:
        return _word_list_variants(word, language)
    return _argument_variants(word, language)


def mutations(arguments: str, language: str, kinds: dict[int, str] | None = None) -> list[str]:
    """Inputs that differ from `arguments` in one argument, changed type-preservingly. For a language
    whose words carry no type (bash), `kinds` (see `argument_kinds`) says which argument is a list."""
    spec = get_language(language)
    separator = spec.argument_separator
    if _takes_words(spec):
        words = _WORD.findall(arguments)
    elif _reads_python(spec):
        try:
            call = ast.parse(f"f({arguments})", mode="eval").body
        except SyntaxError:
            return []
        source = f"f({arguments})"
        words = [ast.get_source_segment(source, a) or "" for a in getattr(call, "args", [])]
        if getattr(call, "keywords", None) or not all(words):
            return []
    else:
        words = split_top(arguments, language, separator.strip())
    out = []
    for index, word in enumerate(words):
        if _takes_words(spec):
            changed = _word_variants(word, index, spec, kinds)
        elif _reads_python(spec):
            changed = _python_variants(word)
        else:
            changed = _argument_variants(word, spec)
        for variant in changed:
            out.append(separator.join([*words[:index], variant, *words[index + 1:]]))
    return out


# --- generated by the model ----------------------------------------------------------------------

GENERATED_CALLS = 8
GENERATION_TOKENS = 96  # 8 calls of HumanEval/41 took 85-120 tokens once the reply opens on a call
# The two requests every task gets, with their token budgets. Opened on the first call, the reply is
# all calls (without it the model copied the prompt first in C++, PHP and Bash, and wrote no call for
# HumanEval/41); left free, it writes a list argument as a list where the opened reply wrote
# `second_largest(1, 2, 3)` for `second_largest(numbers: List[int])`. Each parses to calls; a call no
# candidate can run is dropped by the scorer, so asking both costs tokens, not probes.
STYLES = {"opened": GENERATION_TOKENS, "free": 160}
_LINE_LEAD = re.compile(r"^\s*(?:(?:#|//|\*|-|\d+[.)])\s*)*(?:>>>\s*)?")


def generation_request(task: Task, count: int = GENERATED_CALLS, opened: bool = True) -> list[dict[str, str]]:
    """The chat messages that ask the model for `count` more calls of the task's function; `opened`
    (the reply will open on the first call) also names the function's parameters."""
    name, tag = entry_point(task), FENCE_TAGS[task.language]
    examples = example_inputs(task)
    shape = _call_text(task.language, name, examples[0] if examples else "...")
    parameters = signature_parameters(task) if opened else None
    takes = f" (its parameters: `{parameters}`)" if parameters else ""
    user = (f"Here is a {LANGUAGE_NAMES[task.language]} function to be written:\n\n```{tag}\n{task.prompt.rstrip()}\n"
            f"```\n\nWrite {count} different calls of `{name}` that test it well, edge cases included, one per "
            f"line, each written like `{shape}` with literal arguments{takes}. Only the calls: no results, no "
            "comments.")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def signature_parameters(task: Task) -> str | None:
    """The parameter list of the function to write, as its signature in the prompt spells it
    (`numbers: List[int]`); None where the language has none (Bash's functions take words) or it
    cannot be found. The definition is the name after the language's `signature_lead` (Python's `def`)."""
    language = get_language(task.language)
    if _is_command(language):
        return None
    name = entry_point(task)
    lead = language.signature_lead
    for match in reversed(list(re.finditer(rf"{lead}{re.escape(name)}\s*\(", task.prompt))):
        line = task.prompt[task.prompt.rfind("\n", 0, match.start()) + 1:match.start()].strip()
        if line.startswith(("//", "*", "/*", "#")):
            continue  # an example call in the doc comment
        close = matching(task.prompt, match.end() - 1)
        if close is not None:
            text = " ".join(task.prompt[match.end():close].split())
            return text or None
    return None


def call_opening(task: Task) -> str:
    """How the model's reply begins: the first call up to its arguments (`f(`, or `$(f ` in bash)."""
    return _call_text(task.language, entry_point(task), "\0").split("\0")[0]


def _call_text(language: str, name: str, arguments: str) -> str:
    return get_language(language).write_call(name, arguments)


def _call_in_line(line: str, entry: str) -> str | None:
    """The argument text of the first call of `entry` anywhere in a C-like line (`assert(f(x) == 1);`)."""
    for match in re.finditer(rf"(?<![\w$.]){re.escape(entry)}\s*\(", line):
        end = expression_end(line, match.end())
        if end is not None and end < len(line) and line[end] == ")":
            return line[match.end():end].strip()
    return None


def parse_generated(task: Task, text: str) -> list[str]:
    """The argument lists of the calls of the task's function in the model's reply, one per line:
    bare calls, or calls inside an `assert`, a `print` or a comparison; comments and numbering dropped."""
    entry = entry_point(task)
    language = get_language(task.language)
    comment = " " + language.line_comment[0] if language.line_comment else None
    inputs = []
    for line in text.splitlines():
        line = _LINE_LEAD.sub("", line.strip().strip("`")).strip()
        if line.endswith(("{", ":")) and not _is_command(language):
            continue  # the function's own signature (or a block opening), not a call
        if _reads_python(language):
            arguments = _python_arguments(line, entry)
        elif _is_command(language):
            line = line.split(comment, 1)[0].strip() if comment else line
            if line.startswith("echo "):
                line = line[5:].strip()
            arguments = _arguments(task, line, entry)
        else:
            arguments = _call_in_line(line, entry)
        if arguments:
            inputs.append(arguments)
    return inputs


def generation_prompt(task: Task, backend: Backend, count: int = GENERATED_CALLS, opened: bool = True) -> str:
    """The prompt of the request for more calls, as the backend renders chats, opened on a code fence
    (and, `opened`, on the first call)."""
    return (backend.render_chat(generation_request(task, count, opened)) + f"```{FENCE_TAGS[task.language]}\n"
            + (call_opening(task) if opened else ""))


def generate_calls(tasks: Sequence[Task], backend: Backend, count: int = GENERATED_CALLS,
                   max_tokens: int | None = None, seed: int = 0, opened: bool = True) -> list[Generation]:
    """The model's replies to the request for more calls, one short greedy generation per task, not yet
    parsed; `opened`, each reply's text begins with the `call_opening` the prompt ended on. One
    `generate` call for all the tasks, so a batched backend decodes them together. The token budget
    defaults to the style's (`STYLES`)."""
    params = SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens or STYLES["opened" if opened else "free"],
                            stop=("\n```",), seed=seed, logprobs=False)
    rows = backend.generate([generation_prompt(task, backend, count, opened) for task in tasks], params)
    return [replace(row[0], text=(call_opening(task) if opened else "") + row[0].text) for task, row in zip(tasks, rows)]


def generated_inputs(task: Task, backend: Backend, count: int = GENERATED_CALLS,
                     max_tokens: int = GENERATION_TOKENS, seed: int = 0) -> list[str]:
    """More call inputs, written by the model (`generate_calls`), parsed (see `parse_generated`).

    The calls are not checked here; the consensus scorer leaves out a probe no candidate can run.
    `ranking.probe_cache` keeps them on disk per model and task.
    """
    return combined_calls(task, [generate_calls([task], backend, count, max_tokens, seed, opened)[0].text
                                 for opened in (True, False)])


def combined_calls(task: Task, replies: Iterable[str]) -> list[str]:
    """The calls parsed from every reply (`parse_generated`), in order, each once."""
    return list(dict.fromkeys(call for reply in replies for call in parse_generated(task, reply)))


# --- all together ---------------------------------------------------------------------------------

def _interleave(lists: Iterable[list[str]]) -> list[str]:
    lists = [list(items) for items in lists]
    out = []
    for position in range(max((len(items) for items in lists), default=0)):
        out.extend(items[position] for items in lists if position < len(items))
    return out


def probe_inputs(task: Task, generated: Sequence[str] = (), limit: int = MAX_PROBES) -> list[Probe]:
    """The task's probes: its examples' inputs first, then generated inputs, then mutations (taken
    from every example in turn), deduplicated, at most `limit`. Never reads `task.tests`."""
    examples = example_inputs(task)
    kinds = argument_kinds(task.prompt, task.language)
    candidates = ([Probe(text, "example") for text in examples]
                  + [Probe(text.strip(), "generated") for text in generated if text.strip()]
                  + [Probe(text, "mutation") for text in _interleave(mutations(e, task.language, kinds)
                                                                     for e in examples)])
    seen: set[str] = set()
    probes = []
    for probe in candidates:
        if probe.input in seen:
            continue
        seen.add(probe.input)
        probes.append(probe)
        if len(probes) == limit:
            break
    return probes


__all__ = ["Probe", "probe_inputs", "call_opening", "example_inputs", "mutations", "argument_kinds", "split_top",
           "generated_inputs", "generate_calls",
           "parse_generated", "combined_calls", "generation_request", "signature_parameters", "STYLES", "MAX_PROBES", "SOURCES"]
