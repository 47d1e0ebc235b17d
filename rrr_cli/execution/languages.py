"""Languages as data: each language is one TOML file that says everything rrr knows about it.

Languages are entry points of the `rrr.languages` group (`rrr_cli/plugins`): an entry point `NAME`
names a package holding `NAME.toml`. rrr's own eight live in `rrr_cli/plugins/languages/`; a plugin
package (`plugins/rrr-go`) adds one the same way.

Running a program: `name`, `extension`, `packages` (the Debian packages of its toolchain), `file`
(the source file name), optional `compile` and required `run` argv lists (`{file}` is the source file),
optional `env`, `requires_files`, and the patterns that classify a non-zero exit: `failed_pattern`
(a test assertion failed), `compile_error_pattern` (the interpreter rejected the source),
`compile_output_is_error` (a `compile` step that prints anything rejected the source, whatever its
exit status: `bash -n` reports a malformed `[[ ... ]]` and exits 0),
`failed_exit_codes`, and `assertion_pattern` (a failure even when the program exits 0).
`program_header` is put into every program after the first match of `program_header_after` (Go's
imports, which must come before the other declarations), `program_footer` after its end.
Proof that the tests ran to their end (`runner.py`): `tests_done`, the statement that records it (it
creates the file named by the environment variable `RRR_TESTS_DONE`, a fresh random path each run that
is not in the program). It goes at the end of the program (after Python's `check(...)`, `test();` in JS,
TS and PHP, `run_test` in bash), or, with `tests_done_in` (a pattern of the tests' `main` header), into
the body of the last function it matches: `tests_done_wrap` says how, with `@BODY@` for the body and
`@TESTS_DONE@` for the statement, so that a `return` from `main` still proves and an exception or an
`exit()` does not (a C++ guard's destructor, Go's `defer`, a Java or C# `finally` that skips a throw).
`tests_done_setup` goes on the line before that function (C++'s includes). A run that exits 0 without
the proof has not passed. A probe
driver that ends its entry function with an exit of its own (`halt`, `Exit`) writes `@TESTS_DONE@`
before it, which `probes.py` fills with `tests_done`. A language without `tests_done` is judged by its
exit status alone, and `rrr plugins` says so.
Probe execution (see `probes.py`) reads three more: `probe_driver`, the code appended after the
candidate that renders values and runs every probe (`@CALLS@` marks where the calls go), `probe_call`,
one probe's statement (`@INDEX@`, `@ENTRY@`, `@ARGS@`, `@TIMEOUT_S@`, `@TIMEOUT_MS@`), and
`probe_closes_scopes`: the task's tests begin by closing the candidate's function (cpp, java, cs, sh),
so the driver must close it too, and close what the tests close after their own calls.
Prompts and reports: `display_name`, `fence` (the Markdown fence tag, also the highlighter's lexer),
`prompt_style` (what `--prompt-style auto` picks: chat or completion).
Task files (`tasks/taskfile.py`): `task_extensions`, `task_parser` (python or braced), and for braced
languages `task_stop` (stop sequences; `{indent}` is the signature's indentation),
`completion_closes_function`, `example_check` (one example's test line: `{call}`, `{expected}`;
absent: the examples are not run as they stand), and `task_tests` (the tests: `{checks}`, `{indent}`,
`{outer}` one level out, `{closing}` the scopes still open around it).
Syntax, for the one bracket scanner (`rrr_cli/brackets.py`): `line_comment`, `block_comment`, and
`angle_brackets` (`<...>` after a name holds template arguments: C++, Java, C#).
Public examples (`tasks/examples.py`): `assertion_line`, the pattern of one assertion line of a
MultiPL-E harness, and `call_style`: how that line writes the call, `parentheses` (`name(args)`) or
`command` (bash's `[[ $(name args) = expected ]]`).
Probe inputs (`ranking/probe_inputs.py`), how the consensus scorer reads an example's call and makes
type-preserving variants of its arguments. A call: `call_form`, how one call of the function is
written as an expression whose value is its result (the shape the model is asked for, the line its
reply opens on; `@ENTRY@` the function, `@ARGS@` the arguments; default `@ENTRY@(@ARGS@)`, bash's
`$(@ENTRY@ @ARGS@)`), `call_shown`, how a person is shown one (where the candidates' behaviours part;
bash's `@ENTRY@ @ARGS@`), `argument_separator`, how the arguments are joined (default `, `; one of
whitespace, as bash's ` `, makes them words: split at spaces outside quotes, an integer may be quoted,
and a list is one quoted word of space-separated items), and `signature_lead`, the pattern just before
the function's name where it is defined (default: not after a name character; Python's `def` and spaces).
Literals, each matched against one whole argument (`.` matches newlines too): `literal_integer_pattern`
(group `digits`, a signed decimal; the text around it is kept, C++'s `(long)3`, Java's `3l`),
`literal_string_quotes` (the characters a string literal opens and closes with; default `"`, so a
character literal `'a'` is not taken for one), `literal_list_pattern` (group `items`, the elements; its
other named groups, the element type, are written back by name as `@TYPE@`), `literal_list` (how a
list is written: `@ITEMS@` the elements joined by `, `, `@NAME@` the group `name` of the matched
list) and `literal_empty_list` (a list without elements, where that differs: C++'s
`@TYPE@()`), and `literal_map_entry` (what marks an item of a map written like a list, PHP's `=>`:
such a literal is not varied). Without `literal_list_pattern` no list is varied. Where words carry no
type (bash), `argument_kinds_pattern` reads what the prompt says each one is (`^` and `$` at each line;
group 1 its position from 1, group 2 what it is: `# $1 is a space-separated list`), and `list_argument_kind`
names the kind of one that is a list. A language whose `task_parser` is `python` reads calls and
literals with Python's own parser instead; `call_style = "command"` reads `name args` and
`$(name args)` calls, and a function that takes words has no parameter list to name.
Reports: `report_order`, where the language's column goes in `rrr eval`'s table and its place among the
confidence model's language inputs (ascending, then by name; rrr's own are 10 to 80, in the paper's
order; default 1000, after them).
Adding a language is adding a file; the runner never changes.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from rrr_cli import brackets, plugins
from rrr_cli.errors import RrrError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# An integer literal in a probe input, by default: a signed decimal, with C++/Java/C#'s `(long)` cast
# and Java/C#'s `L` suffix kept around it.
INTEGER_PATTERN = r"^(?P<prefix>\((?:long|int)\)\s*)?(?P<digits>-?\d+)(?P<suffix>[lL]?)$"
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")

# Toolchains are looked up in the system directories first, so a user's PATH shims (pyenv, nvm)
# do not stand in for the Debian toolchain the sandbox can see.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Language:
    name: str
    extension: str
    packages: tuple[str, ...]
    file: str
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    requires_files: tuple[str, ...] = ()
    failed_pattern: str | None = None
    compile_error_pattern: str | None = None
    compile_output_is_error: bool = False
    assertion_pattern: str | None = None
    failed_exit_codes: tuple[int, ...] = ()
    program_header: str | None = None
    program_header_after: str | None = None
    program_footer: str | None = None
    probe_driver: str | None = None
    probe_call: str | None = None
    probe_closes_scopes: bool = False
    display_name: str = ""
    fence: str = ""
    prompt_style: str = "completion"
    task_extensions: tuple[str, ...] = ()
    task_parser: str = "braced"
    task_stop: tuple[str, ...] = ("\n{indent}}\n",)
    completion_closes_function: bool = False
    line_comment: tuple[str, ...] = ("//",)
    block_comment: tuple[str, ...] = ("/*", "*/")
    angle_brackets: bool = False
    call_style: str = "parentheses"
    example_check: str | None = None
    task_tests: str = ""
    assertion_line: str | None = None
    empty_statement: str = ""  # what stands for the harness's assertions in a build check (bash: `:`)
    tests_done: str | None = None
    tests_done_in: str | None = None
    tests_done_setup: str | None = None
    tests_done_wrap: str | None = None
    # Probe inputs (ranking/probe_inputs.py) and reports: see the module docstring.
    call_form: str = "@ENTRY@(@ARGS@)"
    call_shown: str = "@ENTRY@(@ARGS@)"
    argument_separator: str = ", "
    signature_lead: str = r"(?<![\w$.])"
    literal_integer_pattern: str = INTEGER_PATTERN
    literal_string_quotes: str = '"'
    literal_list_pattern: str | None = None
    literal_list: str | None = None
    literal_empty_list: str | None = None
    literal_map_entry: str = ""
    argument_kinds_pattern: str | None = None
    list_argument_kind: str | None = None
    report_order: int = 1000

    def __post_init__(self) -> None:
        # Defaults that follow from other fields.
        for attribute, default in (("display_name", self.name), ("fence", self.name),
                                   ("task_extensions", (self.extension,))):
            if not getattr(self, attribute):
                object.__setattr__(self, attribute, default)

    def execution_spec(self) -> dict:
        """The fields that decide how a program runs and how its run is classified (the verdict
        cache's key): not the probe templates, which reach a probe run through its program text, nor
        what prompts and task files read. The program_* fields and the later-added switches count only
        where a language sets them, so adding one keeps every other language's cached verdicts."""
        spec = {key: getattr(self, key) for key in _EXECUTION_FIELDS}
        spec.update({key: getattr(self, key) for key in _PROGRAM_FIELDS if getattr(self, key) is not None})
        spec.update({key: True for key in _SWITCH_FIELDS if getattr(self, key)})
        return spec

    def prepare(self, program: str) -> str:
        """The program as the file the toolchain gets: with the proof that the tests finished
        (`tests_done`), `program_header` and `program_footer`."""
        program = self._with_tests_done(program)
        if self.program_header:
            match = re.search(self.program_header_after, program, re.MULTILINE) if self.program_header_after else None
            at = match.end() if match else 0
            program = program[:at] + self.program_header + program[at:]
        if self.program_footer:
            program = program + ("" if program.endswith("\n") else "\n") + self.program_footer
        return program

    def _with_tests_done(self, program: str) -> str:
        """`program` with the proof that its tests finished (`tests_done`): at the end of the program,
        or, with `tests_done_in`, inside the last function whose header matches it, its body wrapped in
        `tests_done_wrap`. Without such a function the program is left as it is, and its run cannot
        prove that its tests finished."""
        if not self.tests_done:
            return program
        statement = self.tests_done.strip("\n")
        if not self.tests_done_in:
            return program + ("" if not program or program.endswith("\n") else "\n") + statement + "\n"
        headers = list(re.finditer(self.tests_done_in, program, re.MULTILINE))
        if not headers:
            return program
        header = headers[-1]
        opening = next((i for i, char in brackets.code(program, header.end(), self) if char == "{"), None)
        closing = brackets.matching(program, opening, self) if opening is not None else None
        if closing is None:
            return program
        line_start = program.rfind("\n", 0, header.start()) + 1
        setup = self.tests_done_setup.strip("\n") + "\n" if self.tests_done_setup else ""
        # @TESTS_DONE@ first, so the body's own text is never taken for a placeholder.
        body = ((self.tests_done_wrap or "@BODY@\n@TESTS_DONE@").replace("@TESTS_DONE@", statement)
                .replace("@BODY@", program[opening + 1:closing]))
        return (program[:line_start] + setup + program[line_start:opening + 1] + "\n" + body.strip("\n")
                + "\n" + program[closing:])

    def write_call(self, entry: str, arguments: str, shown: bool = False) -> str:
        """One call of `entry` on `arguments` as code (`call_form`), or as a person is shown it (`call_shown`)."""
        template = self.call_shown if shown else self.call_form
        return _PLACEHOLDER.sub(lambda m: {"ENTRY": entry, "ARGS": arguments}.get(m.group(1), m.group(0)), template)

    def write_list(self, items: list[str] | tuple[str, ...], match: re.Match) -> str:
        """A list of `items` written like the list `match` (of `literal_list_pattern`) read: `literal_list`,
        or `literal_empty_list` without items; `@NAME@` is the match's group `name`."""
        template = (self.literal_empty_list if not items and self.literal_empty_list is not None
                    else self.literal_list or "")
        groups = match.groupdict()

        def fill(placeholder: re.Match) -> str:
            key = placeholder.group(1)
            if key == "ITEMS":
                return ", ".join(items)
            if key.lower() in groups:
                return groups[key.lower()] or ""
            return placeholder.group(0)

        return _PLACEHOLDER.sub(fill, template)

    def argv(self, template: tuple[str, ...]) -> list[str]:
        """A command with `{file}` filled in and its program resolved to an absolute path."""
        words = [word.replace("{file}", self.file) for word in template]
        resolved = resolve_executable(words[0])
        return [resolved or words[0], *words[1:]]

    def executables(self) -> list[str]:
        commands = [self.run] + ([self.compile] if self.compile else [])
        return [command[0] for command in commands if not command[0].startswith("./")]

    def matches(self, attribute: str, text: str) -> bool:
        pattern = getattr(self, attribute)
        return bool(pattern and re.search(pattern, text, re.MULTILINE))


_EXECUTION_FIELDS = ("name", "extension", "packages", "file", "run", "compile", "env", "requires_files",
                     "failed_pattern", "compile_error_pattern", "assertion_pattern", "failed_exit_codes")
_PROGRAM_FIELDS = ("program_header", "program_header_after", "program_footer", "tests_done", "tests_done_in",
                   "tests_done_setup", "tests_done_wrap")
_SWITCH_FIELDS = ("compile_output_is_error",)


def resolve_executable(name: str) -> str | None:
    if name.startswith("./") or os.path.isabs(name):
        return name if name.startswith("./") or os.access(name, os.X_OK) else None
    found = shutil.which(name, path=SYSTEM_PATH) or shutil.which(name)
    return os.path.realpath(found) if found else None


def _language_from_toml(text: str, where: str) -> Language:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RrrError(f"{where}: invalid TOML: {exc}") from None
    missing = [key for key in ("name", "extension", "packages", "file", "run") if key not in data]
    if missing:
        raise RrrError(f"{where}: language file is missing {', '.join(missing)}")
    known = set(Language.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise RrrError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if data.get("prompt_style", "completion") not in ("chat", "completion"):
        raise RrrError(f"{where}: prompt_style must be chat or completion (got {data['prompt_style']!r})")
    if data.get("call_style", "parentheses") not in ("parentheses", "command"):
        raise RrrError(f"{where}: call_style must be parentheses or command (got {data['call_style']!r})")
    if data.get("task_parser", "braced") not in ("python", "braced"):
        raise RrrError(f"{where}: task_parser must be python or braced (got {data['task_parser']!r})")
    switches = [key for key, spec in Language.__dataclass_fields__.items() if spec.type in (bool, "bool")]
    wrong = [key for key in switches if key in data and not isinstance(data[key], bool)]
    if wrong:
        raise RrrError(f"{where}: {wrong[0]} must be true or false (got {data[wrong[0]]!r})")
    _check_probe_keys(data, where)
    for key in ("packages", "run", "compile", "requires_files", "failed_exit_codes", "task_extensions",
                "task_stop", "line_comment", "block_comment"):
        if key in data:
            data[key] = tuple(data[key])
    return Language(**data)


_TEXT_KEYS = ("call_form", "call_shown", "argument_separator", "signature_lead", "literal_integer_pattern",
              "literal_string_quotes", "literal_list_pattern", "literal_list", "literal_empty_list",
              "literal_map_entry", "argument_kinds_pattern", "list_argument_kind")
# Each pattern key: the groups it must name, and the flags `ranking/probe_inputs.py` reads it with.
_PATTERN_GROUPS = {"signature_lead": ((), 0), "literal_integer_pattern": (("digits",), re.DOTALL),
                   "literal_list_pattern": (("items",), re.DOTALL), "argument_kinds_pattern": ((), re.MULTILINE)}


def _check_probe_keys(data: dict, where: str) -> None:
    """The probe-input and report keys (see the module docstring), each one line naming it when wrong."""
    for key in _TEXT_KEYS:
        if key in data and not isinstance(data[key], str):
            raise RrrError(f"{where}: {key} must be a string (got {data[key]!r})")
    for key in ("call_form", "call_shown"):
        if key in data and not all(mark in data[key] for mark in ("@ENTRY@", "@ARGS@")):
            raise RrrError(f"{where}: {key} must hold @ENTRY@ and @ARGS@ (got {data[key]!r})")
    for key in ("argument_separator", "literal_string_quotes"):
        if key in data and not data[key]:
            raise RrrError(f"{where}: {key} must not be empty")
    compiled = {}
    for key, (groups, flags) in _PATTERN_GROUPS.items():
        if key not in data:
            continue
        try:
            compiled[key] = re.compile(data[key], flags)
        except re.error as exc:
            raise RrrError(f"{where}: {key} is not a regular expression ({exc})") from None
        absent = [group for group in groups if group not in compiled[key].groupindex]
        if absent:
            raise RrrError(f"{where}: {key} needs a group named {absent[0]!r}, as (?P<{absent[0]}>...)")
    if "argument_kinds_pattern" in compiled and compiled["argument_kinds_pattern"].groups < 2:
        raise RrrError(f"{where}: argument_kinds_pattern needs two groups (the argument's position, its kind)")
    for key in ("tests_done", "tests_done_in", "tests_done_setup", "tests_done_wrap"):
        if key in data and not isinstance(data[key], str):
            raise RrrError(f"{where}: {key} must be a string (got {data[key]!r})")
    if "tests_done_in" in data:
        try:
            re.compile(data["tests_done_in"], re.MULTILINE)
        except re.error as exc:
            raise RrrError(f"{where}: tests_done_in is not a regular expression ({exc})") from None
    if "tests_done_wrap" in data and "@BODY@" not in data["tests_done_wrap"]:
        raise RrrError(f"{where}: tests_done_wrap must hold @BODY@ (got {data['tests_done_wrap']!r})")
    if "list_argument_kind" in data and "argument_kinds_pattern" not in data:
        raise RrrError(f"{where}: list_argument_kind needs argument_kinds_pattern")
    if "literal_list_pattern" in compiled:
        if "@ITEMS@" not in data.get("literal_list", ""):
            raise RrrError(f"{where}: literal_list_pattern needs literal_list, holding @ITEMS@")
        names = set(compiled["literal_list_pattern"].groupindex)
        for key in ("literal_list", "literal_empty_list"):
            unknown = [mark for mark in _PLACEHOLDER.findall(data.get(key, ""))
                       if mark != "ITEMS" and mark.lower() not in names]
            if unknown:
                raise RrrError(f"{where}: {key} names @{unknown[0]}@, which literal_list_pattern has no group for")
    elif "literal_list" in data or "literal_empty_list" in data:
        raise RrrError(f"{where}: literal_list and literal_empty_list need literal_list_pattern")
    if "report_order" in data and (not isinstance(data["report_order"], int) or isinstance(data["report_order"], bool)):
        raise RrrError(f"{where}: report_order must be an integer (got {data['report_order']!r})")


@lru_cache(maxsize=1)
def languages() -> dict[str, Language]:
    """Every installed language (entry points of `rrr.languages`), by name. A plugin whose file is
    missing or invalid is reported on stderr, once, and left out."""
    found: dict[str, Language] = {}
    for name, package in plugins.load_all("language").items():
        where = f"{getattr(package, '__name__', package)}/{name}.toml"
        try:
            text = resources.files(package).joinpath(f"{name}.toml").read_text(encoding="utf-8")
            language = _language_from_toml(text, where)
        except (OSError, TypeError, ValueError, RrrError) as exc:
            plugins.report_broken("language", name, str(exc) if isinstance(exc, RrrError)
                                  else f"cannot read {where}: {exc}")
            continue
        if language.name != name:
            plugins.report_broken("language", name, f"{where} defines {language.name!r}, not {name!r}")
            continue
        found[name] = language
    return found


def language_names() -> list[str]:
    """The names of the installed languages, rrr's own first."""
    return list(languages())


def languages_in_order() -> list[str]:
    """The installed languages' names in report order: by `report_order`, then name (rrr's own eight
    in the paper's order, a plugin's after them unless it says otherwise)."""
    return [language.name for language in sorted(languages().values(), key=lambda l: (l.report_order, l.name))]


def by_extension() -> dict[str, str]:
    """Task-file extension -> language name, over every installed language."""
    out: dict[str, str] = {}
    for language in languages().values():
        for extension in language.task_extensions:
            out.setdefault(extension, language.name)
    return out


def get_language(name: str) -> Language:
    try:
        return languages()[name]
    except KeyError:
        raise RrrError(f"unknown language {name!r} (known: {', '.join(languages())})") from None


@lru_cache(maxsize=None)
def toolchain_missing(name: str) -> str | None:
    """"toolchain missing: install <package>" when a language cannot run here, else None."""
    language = get_language(name)
    absent = [exe for exe in language.executables() if resolve_executable(exe) is None]
    absent += [path for path in language.requires_files if not Path(path).exists()]
    if absent:
        return f"toolchain missing: install {' '.join(language.packages)} (not found: {', '.join(absent)})"
    return None


def languages_available() -> list[str]:
    return [name for name in languages() if toolchain_missing(name) is None]
