"""The small executed eval run under tests/fixtures/eval/: its tasks, candidates and verdicts."""

from __future__ import annotations

from pathlib import Path

from rrr_cli.records import Candidate, Task, Verdict, read_records

FIXTURES = Path(__file__).parent / "fixtures" / "eval"


def load_fixture_run() -> tuple[list[Task], dict[str, list[Candidate]], dict[str, list[Verdict]]]:
    """(tasks, candidates by task, verdicts by task), in file order."""
    tasks = list(read_records(FIXTURES / "tasks.jsonl", Task))
    candidates: dict[str, list[Candidate]] = {}
    for candidate in read_records(FIXTURES / "candidates.jsonl", Candidate):
        candidates.setdefault(candidate.task_id, []).append(candidate)
    verdicts: dict[str, list[Verdict]] = {}
    for verdict in read_records(FIXTURES / "verdicts.jsonl", Verdict):
        verdicts.setdefault(verdict.task_id, []).append(verdict)
    return tasks, candidates, verdicts
