"""Benchmarks shipped inside the package: HumanEval and its MultiPL-E translations, and MBPP.

Every benchmark is normalised to `Task` records: `prompt + completion + tests` is the program to run.
"""

from __future__ import annotations

import ast
import json
import re
from functools import lru_cache
from importlib import resources

from rrr_cli.errors import RrrError
from rrr_cli.execution.languages import get_language
from rrr_cli.records import LANGUAGES, Task

HUMANEVAL = {f"humaneval-{language}": language for language in LANGUAGES}
ALIASES = {"multipl-e": list(HUMANEVAL), "humaneval": ["humaneval-python"]}
BENCHMARKS = [*HUMANEVAL, "multipl-e", "mbpp"]

# MBPP's conventional split by task number.
MBPP_SPLITS = {
    "prompt": range(1, 11),
    "test": range(11, 511),
    "validation": range(511, 601),
    "train": range(601, 975),
}
MBPP_SPLITS_ALIASES = {"train+validation": ("train", "validation"), "all": tuple(MBPP_SPLITS)}



def python_stop() -> list[str]:
    """Where a Python completion ends: the `task_stop` of Python's definition (plugins/languages/python.toml)."""
    return list(get_language("python").task_stop)


def is_benchmark(name: str) -> bool:
    return name in BENCHMARKS or name in ALIASES


def _lines(*parts: str):
    text = resources.files("rrr_cli").joinpath("data", *parts).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _stop_tokens(raw) -> list[str]:
    # Some records hold the list as its Python repr.
    if isinstance(raw, str):
        raw = ast.literal_eval(raw) if raw.strip() else []
    return list(raw or [])


@lru_cache(maxsize=16)
def _humaneval(language: str) -> tuple[Task, ...]:
    tasks = []
    for record in _lines("humaneval-multipl-e", f"humaneval-{language}.jsonl"):
        if language == "python":
            entry_point = re.findall(r"def (\w+)\s*\(", record["declaration"])[-1]
            tests = record["test"]
            if f"check({entry_point})" not in tests:
                tests = tests.rstrip() + f"\n\n\ncheck({entry_point})\n"
            stop = _stop_tokens(record.get("stop_tokens")) or python_stop()
            task_id = "HumanEval/" + record["task_id"].split("/")[-1]
            extra = {"canonical_solution": record["canonical_solution"]}
        else:
            entry_point = None
            tests = record["tests"]
            stop = _stop_tokens(record["stop_tokens"])
            task_id = f"{language}/{record['task_id']}"
            extra = {}
        task = Task(task_id=task_id, language=language, prompt=record["prompt"], tests=tests,
                    stop_tokens=stop, entry_point=entry_point, source=f"humaneval-{language}")
        task.extra = extra
        tasks.append(task)
    return tuple(tasks)


def _mbpp_task(record: dict) -> Task:
    """MBPP as a completion task: a stub with the description as docstring and one example test."""
    match = re.search(r"def\s+(\w+)\s*\(([^)]*)\)", record["code"])
    if not match:
        raise RrrError(f"mbpp task {record['task_id']}: no function in the reference code")
    name = re.search(r"assert\s+(?:not\s+)?\(?\s*(?:math\.isclose\()?\s*(?:set\()?\s*(\w+)\s*\(",
                     record["test_list"][0])
    entry_point = name.group(1) if name else match.group(1)
    signature_match = re.search(rf"def\s+{re.escape(entry_point)}\s*\(([^)]*)\)", record["code"])
    arguments = signature_match.group(1) if signature_match else match.group(2)
    prompt = (f"def {entry_point}({arguments.strip()}):\n"
              f'    """{record["text"].strip()}\n'
              f"    Your code should pass this test: {record['test_list'][0]}\n"
              f'    """\n')
    setup = record.get("test_setup_code") or ""
    tests = "\n\n" + (setup + "\n" if setup else "") + "\n".join(record["test_list"]) + "\n"
    task = Task(task_id=f"mbpp/{record['task_id']}", language="python", prompt=prompt, tests=tests,
                stop_tokens=python_stop(), entry_point=entry_point, source="mbpp")
    task.extra = {"canonical_solution": record["code"]}
    return task


@lru_cache(maxsize=1)
def _mbpp() -> tuple[Task, ...]:
    return tuple(_mbpp_task(record) for record in _lines("mbpp", "mbpp.jsonl"))


def mbpp_split(split: str) -> list[Task]:
    parts = MBPP_SPLITS_ALIASES.get(split, (split,))
    unknown = [part for part in parts if part not in MBPP_SPLITS]
    if unknown:
        known = ", ".join([*MBPP_SPLITS, *MBPP_SPLITS_ALIASES])
        raise RrrError(f"unknown mbpp split {split!r} (known: {known})")
    numbers = {n for part in parts for n in MBPP_SPLITS[part]}
    return [task for task in _mbpp() if int(task.task_id.split("/")[1]) in numbers]


@lru_cache(maxsize=16)
def _by_id(language: str) -> dict[str, Task]:
    tasks = (*_humaneval(language), *(_mbpp() if language == "python" else ()))
    return {task.task_id: task for task in tasks}


def shipped_task(task_id: str, language: str, prompt: str) -> Task | None:
    """The shipped benchmark task with this id, language and prompt, or None.

    A candidate record carries its task's prompt but not its test harness (`rrr sample` writes no
    tests). Running the prompt's examples in a MultiPL-E language takes the harness (its `main`,
    imports and the shape of an assertion), so rerankers and training read it from here; the
    prompt must match, so a user's task that reuses an id is never mistaken for the benchmark's."""
    if language not in LANGUAGES:
        return None
    task = _by_id(language).get(task_id)
    return task if task is not None and task.prompt == prompt else None


def load_benchmark(name: str, split: str | None = None) -> list[Task]:
    """Tasks of a benchmark by name; `split` selects MBPP's split (default: test)."""
    if name in ALIASES:
        return [task for member in ALIASES[name] for task in load_benchmark(member, split)]
    if name in HUMANEVAL:
        return list(_humaneval(HUMANEVAL[name]))
    if name == "mbpp":
        return mbpp_split(split or "test")
    raise RrrError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
