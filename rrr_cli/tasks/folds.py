"""Folds of a task set by problem number, so a problem and its translations stay on one side.

MultiPL-E translates HumanEval problem N into every language (`HumanEval/12`, `cpp/HumanEval_12_...`);
splitting by that number keeps every language's version of a held-out problem out of training.
"""

from __future__ import annotations

import hashlib
import re


def problem_number(task_id: str) -> int | None:
    """The problem a task translates: 12 for `HumanEval/12` and `cpp/HumanEval_12_...`, 601 for
    `Mbpp/601`; the first number in the id otherwise; None when it has none."""
    match = re.search(r"(?:HumanEval|Mbpp|mbpp)[/_](\d+)", task_id) or re.search(r"(\d+)", task_id)
    return int(match.group(1)) if match else None


def fold_of(task_id: str, folds: int) -> int:
    """The fold a task belongs to: its problem number modulo `folds`, so every language's version of a
    problem shares a fold (no translation of a held-out problem is trained on); ids without a number
    fold by a hash of the id."""
    number = problem_number(task_id)
    if number is None:
        number = int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16)
    return number % folds


def positions_in_language(tasks) -> dict[str, int]:
    """Each task's index among the tasks of its language, in the order given: a split by "the first K
    tasks of each language" keeps every language's share."""
    seen: dict[str, int] = {}
    out = {}
    for task in tasks:
        out[task.task_id] = seen.get(task.language, 0)
        seen[task.language] = out[task.task_id] + 1
    return out
