"""The records every stage reads and writes (tasks, candidates, verdicts, pairs) and their JSONL IO.

Each record is a dataclass. Fields a stage does not know are kept in `extra` and written back out,
so a pipeline `rrr sample | rrr rerank | ...` never drops what an earlier stage added.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Iterable, Iterator, TypeVar

from rrr_cli.atomic import atomic_open
from rrr_cli.errors import RrrError

LANGUAGES = ("python", "cpp", "java", "php", "ts", "cs", "sh", "js")
VERDICT_STATUSES = ("passed", "failed", "timeout", "compile_error", "runtime_error", "sandbox_error")
PAIR_KINDS = ("standard", "hard_negative")


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
            raise RecordError(f"{where}expected a JSON object for a {cls.kind}, got {type(data).__name__}")
        missing = [name for name in cls.required() if name not in data]
        if missing:
            raise RecordError(f"{where}{cls.kind} record is missing field(s): {', '.join(missing)}")
        known = set(cls.field_names())
        record = cls(**{k: v for k, v in data.items() if k in known})
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


def _check_language(language: str, where: str) -> None:
    if language not in LANGUAGES:
        raise RecordError(f"{where}unknown language {language!r} (known: {', '.join(LANGUAGES)})")


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
    kind: ClassVar[str] = "scored candidate"


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


def iter_json_lines(handle: IO[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a bad line raises RecordError."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{name}:{number}: invalid JSON: {exc.msg} (column {exc.colno})") from None


def read_records(source: str | os.PathLike | IO[str] | None, record_type: type[R]) -> Iterator[R]:
    """Stream records of `record_type` from a path, '-'/None (stdin), or an open text handle."""
    if source is None or source == "-":
        handle, name, close = sys.stdin, "<stdin>", False
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise RecordError(f"{path}: no such file")
        handle, name, close = path.open(encoding="utf-8"), str(path), True
    else:
        handle, name, close = source, getattr(source, "name", "<stream>"), False
    try:
        for number, obj in iter_json_lines(handle, name):
            yield record_type.from_dict(obj, where=f"{name}:{number}: ")  # type: ignore[misc]
    finally:
        if close:
            handle.close()


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
