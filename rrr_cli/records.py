"""The records every stage reads and writes (tasks, candidates, verdicts, pairs) and their JSONL IO.

Each record is a dataclass. Fields a stage does not know are kept in `extra` and written back out,
so a pipeline `rrr sample | rrr rerank | ...` never drops what an earlier stage added.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Iterable, Iterator, TypeVar, Union

from rrr_cli import plugins
from rrr_cli.atomic import atomic_open
from rrr_cli.errors import RrrError

# The paper's eight languages, those of the HumanEval/MultiPL-E benchmarks. Which languages a record
# may carry is the registry's answer (`known_languages`): these eight plus any language plugin.
LANGUAGES = ("python", "cpp", "java", "php", "ts", "cs", "sh", "js")
VERDICT_STATUSES = ("passed", "failed", "timeout", "compile_error", "runtime_error", "sandbox_error")
PAIR_KINDS = ("standard", "hard_negative")
# The longest record line rrr reads (a task or pair with a long prompt is a few kB; a line of many MB is
# not a record but a wrong file). Reading stops there instead of holding the whole line in memory.
MAX_LINE_BYTES = 8 * 1024 * 1024


class RecordError(RrrError):
    """A malformed record: says which file and line, and what is wrong."""


@dataclass
class Record:
    """Base class: typed fields plus pass-through `extra` fields."""

    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, kw_only=True)
    kind: ClassVar[str] = "record"

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name != "extra"]

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        """Each field's declared type (the annotations, resolved)."""
        return _field_types(cls)

    @classmethod
    def required(cls) -> list[str]:
        return [
            f.name
            for f in dataclasses.fields(cls)
            if f.name != "extra"
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> "Record":
        if not isinstance(data, dict):
            raise RecordError(f"{where}expected a JSON object for a {cls.kind}, got {_json_type(data)}")
        missing = [name for name in cls.required() if name not in data]
        if missing:
            raise RecordError(f"{where}{cls.kind} record is missing field(s): {', '.join(missing)}")
        known = set(cls.field_names())
        values = {k: v for k, v in data.items() if k in known}
        hints = cls.field_types()
        for name, value in values.items():
            values[name] = check_value(value, hints[name], f"{where}{cls.kind} field {name!r}")
        record = cls(**values)
        record.extra = {k: v for k, v in data.items() if k not in known}
        record.validate(where)
        return record

    def validate(self, where: str = "") -> None:
        """Check values beyond presence; subclasses raise RecordError."""

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.field_names()}
        out = {k: v for k, v in out.items() if v is not None}
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name != "extra"}


_JSON_TYPE = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
              type(None): "null", list: "an array", dict: "an object"}


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is list:
        return f"an array of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "an array"
    return _JSON_TYPE.get(hint, getattr(hint, "__name__", str(hint)))


def _json_type(value: Any) -> str:
    """What JSON calls the type of a decoded value."""
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (type(None), "null"), (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def check_value(value: Any, hint: Any, what: str) -> Any:
    """`value` as the declared type `hint` (an int is a valid float), or RecordError naming `what`.

    Text must not hold a NUL character (no source file does, and C toolchains stop reading at one);
    numbers must be finite.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None) and _fits(value, arg):
                return check_value(value, arg, what)
    elif _fits(value, hint):
        if origin is list and args:
            return [check_value(item, args[0], f"{what}[{i}]") for i, item in enumerate(value)]
        if hint is str and "\0" in value:
            raise RecordError(f"{what} contains a NUL character")
        if hint is float:
            if not math.isfinite(value):
                raise RecordError(f"{what} must be a finite number, got {value}")
            return float(value)
        return value
    shown = json.dumps(value, ensure_ascii=False, default=str)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise RecordError(f"{what} must be {_describe(hint)}, got {_json_type(value)} {shown}")


def _fits(value: Any, hint: Any) -> bool:
    kind = typing.get_origin(hint) or hint
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is Any:
        return True
    return isinstance(value, kind)


def known_languages() -> list[str]:
    """The languages installed here: the entry points of `rrr.languages` that did not fail to load."""
    return [name for name in plugins.names("language") if plugins.broken("language", name) is None]


def _check_language(language: str, where: str) -> None:
    if language not in known_languages():
        raise RecordError(f"{where}unknown language {language!r} (known: {', '.join(known_languages())})")


@dataclass
class Task(Record):
    """A programming task: `prompt` is code to continue; `prompt + completion + tests` is the program."""

    task_id: str
    language: str
    prompt: str
    tests: str
    stop_tokens: list[str] = field(default_factory=list)
    entry_point: str | None = None
    source: str = ""
    kind: ClassVar[str] = "task"

    def validate(self, where: str = "") -> None:
        _check_language(self.language, where)


@dataclass
class Candidate(Record):
    """One sampled solution: `completion` always continues `prompt`, whatever the prompt style."""

    task_id: str
    language: str
    prompt: str
    completion: str
    sample_id: int
    model: str = ""
    backend: str = ""
    prompt_style: str = ""
    temperature: float = 0.0
    seed: int | None = None
    n_tokens: int = 0
    logprob_sum: float | None = None
    mean_logprob: float | None = None
    kind: ClassVar[str] = "candidate"

    def validate(self, where: str = "") -> None:
        _check_language(self.language, where)

    @property
    def key(self) -> tuple[str, int]:
        return (self.task_id, self.sample_id)

    @property
    def logprobs(self) -> tuple[float, int] | None:
        """(sum of the completion's token log-probs, its tokens) where the sampler recorded them."""
        if not self.n_tokens:
            return None
        if self.logprob_sum is not None:
            return (float(self.logprob_sum), self.n_tokens)
        if self.mean_logprob is not None:
            return (float(self.mean_logprob) * self.n_tokens, self.n_tokens)
        return None


@dataclass
class Verdict(Record):
    """The outcome of running one candidate's program in the sandbox."""

    task_id: str
    sample_id: int
    status: str
    exit_code: int | None = None
    duration_s: float = 0.0
    stderr_tail: str = ""
    reason: str | None = None  # why a run that exited 0 failed: "tests did not finish"
    kind: ClassVar[str] = "verdict"

    def validate(self, where: str = "") -> None:
        if self.status not in VERDICT_STATUSES:
            raise RecordError(f"{where}unknown verdict status {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class ScoredCandidate(Candidate):
    """A candidate with a scorer's judgement; rank 1 is the best of its task."""

    score: float = 0.0
    scorer: str = ""
    rank: int = 0
    confidence: float | None = None  # on a task's best: P(it passes the hidden tests), `ranking.confidence`
    kind: ClassVar[str] = "scored candidate"

    # A scorer with nothing to go on (no log-probs, say) gives -inf: the candidate ranks last. JSON has
    # no infinity, so such a score is written as null and read back as -inf.
    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> "ScoredCandidate":
        if isinstance(data, dict) and "score" in data and (
                data["score"] is None or (isinstance(data["score"], float) and not math.isfinite(data["score"]))):
            record = super().from_dict({**data, "score": 0.0}, where)
            record.score = -math.inf
            return record  # type: ignore[return-value]
        return super().from_dict(data, where)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if not math.isfinite(out["score"]):
            out["score"] = None
        if out.get("confidence") is None:
            out.pop("confidence", None)
        return out


@dataclass
class Pair(Record):
    """A preference pair for the reward model: `chosen` passed, `rejected` did not."""

    task_id: str
    language: str
    prompt: str
    chosen: str
    rejected: str
    kind_: str = field(default="standard", metadata={"json": "kind"})
    iteration: int = 0
    # The generator's log-probs of each side, where known (a reranker may read them as inputs).
    chosen_logprob_sum: float | None = None
    chosen_n_tokens: int | None = None
    rejected_logprob_sum: float | None = None
    rejected_n_tokens: int | None = None
    kind: ClassVar[str] = "pair"

    # The JSON field is called `kind`; the dataclass attribute `kind_` avoids the ClassVar name.
    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> "Pair":
        if not isinstance(data, dict):
            return super().from_dict(data, where)  # type: ignore[return-value]
        data = dict(data)
        if "kind" in data:
            data["kind_"] = data.pop("kind")
        return super().from_dict(data, where)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["kind"] = out.pop("kind_")
        return out

    def validate(self, where: str = "") -> None:
        _check_language(self.language, where)
        if self.kind_ not in PAIR_KINDS:
            raise RecordError(f"{where}unknown pair kind {self.kind_!r} (known: {', '.join(PAIR_KINDS)})")


R = TypeVar("R", bound=Record)


def _display_name(path: str | os.PathLike | None) -> str:
    return "<stdin>" if path in (None, "-") else str(path)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def loads(text: str, where: str = "") -> Any:
    """Strict JSON: no NaN/Infinity, no numbers out of range, no duplicate keys; RecordError names `where`."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                          object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{where}invalid JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:  # ours above, or an integer of thousands of digits
        message = str(exc) if "digits" not in str(exc) else "an integer of more than 4300 digits"
        raise RecordError(f"{where}invalid JSON: {message}") from None
    except RecursionError:
        raise RecordError(f"{where}invalid JSON: nested too deeply") from None


def decode_line(line: bytes | str, where: str) -> str:
    """One line of a text file as str: UTF-8 only, no NUL bytes; RecordError names `where`."""
    if isinstance(line, str):
        text = line
    else:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordError(f"{where}not UTF-8 text (byte {exc.start + 1} of the line is "
                              f"0x{line[exc.start]:02x})") from None
    if "\0" in text:
        raise RecordError(f"{where}a NUL byte: this is not a text file of JSON records")
    return text


def _lines(handle: IO) -> Iterator[bytes | str]:
    """Lines of a text or binary handle, each at most MAX_LINE_BYTES (+ newline) long."""
    while True:
        line = handle.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        yield line


def iter_json_lines(handle: IO, name: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, value) for each non-blank line of a text or binary handle; a bad line
    (not UTF-8, a NUL byte, longer than MAX_LINE_BYTES, invalid or non-strict JSON) raises RecordError."""
    number = 0
    try:
        for number, line in enumerate(_lines(handle), start=1):
            if len(line) > MAX_LINE_BYTES and not (line.endswith(b"\n") if isinstance(line, bytes)
                                                   else line.endswith("\n")):
                raise RecordError(f"{name}:{number}: line longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB: "
                                  "not a JSONL file of records")
            where = f"{name}:{number}: "
            text = decode_line(line, where)
            if number == 1:
                text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
            if text.strip():
                yield number, loads(text, where)
    except UnicodeDecodeError:  # a text handle decodes for itself
        raise RecordError(f"{name}:{number + 1}: not UTF-8 text") from None


def read_records(source: str | os.PathLike | IO | None, record_type: type[R]) -> Iterator[R]:
    """Stream records of `record_type` from a path, '-'/None (stdin), or an open (text or binary) handle."""
    if source is None or source == "-":
        handle, name, close = getattr(sys.stdin, "buffer", sys.stdin), "<stdin>", False
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise RecordError(f"{path}: no such file")
        try:
            handle, name, close = path.open("rb"), str(path), True
        except OSError as exc:
            raise RecordError(f"{path}: cannot read: {exc.strerror}") from None
    else:
        handle, name, close = source, getattr(source, "name", "<stream>"), False
    try:
        for number, obj in iter_json_lines(handle, name):
            yield record_type.from_dict(obj, where=f"{name}:{number}: ")  # type: ignore[misc]
    finally:
        if close:
            handle.close()


def read_text_file(path: str | os.PathLike, what: str = "file") -> str:
    """A whole text file (a task file, a TOML config): UTF-8 without NUL bytes, or one RecordError line
    naming the file and the line where it goes wrong."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file") from None
    except OSError as exc:
        raise RecordError(f"{path}: cannot read the {what}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RecordError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    if "\0" in text:
        raise RecordError(f"{path}:{text.count(chr(10), 0, text.index(chr(0))) + 1}: a NUL byte "
                          f"(not a text file)")
    return text.removeprefix("\ufeff")


def read_json_file(path: str | os.PathLike, what: str = "file") -> Any:
    """A JSON file rrr wrote itself (a manifest, settings): strict JSON, errors as one RecordError line."""
    return loads(read_text_file(path, what), f"{path}: ")


def dumps(record: Record | dict[str, Any]) -> str:
    data = record.to_dict() if isinstance(record, Record) else record
    return json.dumps(data, ensure_ascii=False)


class RecordWriter:
    """Writes JSONL to stdout (flushed per record, so pipes stream) or atomically to a file.

    A file is only renamed into place when the writer closes without an exception, so an interrupted
    run never leaves a truncated output where a good one was.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = None if path in (None, "-") else Path(path)
        self.count = 0
        self._context = None
        self._handle: IO[str] | None = None

    def __enter__(self) -> "RecordWriter":
        if self.path is None:
            self._handle = sys.stdout
        else:
            self._context = atomic_open(self.path, "w")
            self._handle = self._context.__enter__()
        return self

    def write(self, record: Record | dict[str, Any]) -> None:
        assert self._handle is not None
        self._handle.write(dumps(record) + "\n")
        if self.path is None:
            self._handle.flush()
        self.count += 1

    def write_all(self, records: Iterable[Record | dict[str, Any]]) -> int:
        for record in records:
            self.write(record)
        return self.count

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self._context is not None:
            return bool(self._context.__exit__(exc_type, exc, tb))
        return False


def write_records(path: str | os.PathLike | None, records: Iterable[Record | dict[str, Any]]) -> int:
    """Write all records (atomically for a file); returns how many were written."""
    with RecordWriter(path) as writer:
        return writer.write_all(records)


def to_jsonl(records: Iterable[Record | dict[str, Any]]) -> str:
    buffer = io.StringIO()
    for record in records:
        buffer.write(dumps(record) + "\n")
    return buffer.getvalue()
