"""Pair mining: standard pairs from verdicts, the per-task cap, hard negatives, whole-task splits."""

from __future__ import annotations

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.records import Candidate, Pair, ScoredCandidate, Verdict
from rrr_cli.training.pairs import (build_pairs, dedupe_pairs, labelled_from_pairs, labelled_tasks,
                                    mine_hard_negatives, split_by_task)


def cand(task: str, sample: int, completion: str, score: float | None = None):
    data = dict(task_id=task, language="python", prompt=f"def {task}():\n", completion=completion, sample_id=sample)
    if score is None:
        return Candidate(**data)
    return ScoredCandidate(**data, score=score)


def verdict(task: str, sample: int, status: str) -> Verdict:
    return Verdict(task_id=task, sample_id=sample, status=status)


def test_each_passing_over_each_failing_within_a_task():
    cands = [cand("a", 0, "ok1"), cand("a", 1, "bad1"), cand("a", 2, "ok2"), cand("a", 3, "bad2"),
             cand("b", 0, "x"), cand("b", 1, "y")]
    verdicts = [verdict("a", 0, "passed"), verdict("a", 1, "failed"), verdict("a", 2, "passed"),
                verdict("a", 3, "timeout"), verdict("b", 0, "passed"), verdict("b", 1, "passed")]
    pairs = build_pairs(cands, verdicts, max_per_task=None)
    assert {(p.chosen, p.rejected) for p in pairs} == {("ok1", "bad1"), ("ok1", "bad2"), ("ok2", "bad1"), ("ok2", "bad2")}
    assert all(p.task_id == "a" and p.kind_ == "standard" and p.prompt == "def a():\n" for p in pairs)
    assert pairs[0].to_dict()["kind"] == "standard"


def test_cap_duplicates_and_uninformative_verdicts():
    cands = [cand("t", i, f"ok{i % 3}") for i in range(6)] + [cand("t", 10 + i, f"bad{i}") for i in range(6)]
    cands.append(cand("t", 99, "sandboxed"))
    verdicts = [verdict("t", i, "passed") for i in range(6)] + [verdict("t", 10 + i, "failed") for i in range(6)]
    verdicts.append(verdict("t", 99, "sandbox_error"))
    full = build_pairs(cands, verdicts, max_per_task=None)
    assert len(full) == 3 * 6  # duplicate passing texts count once
    assert all(p.rejected != "sandboxed" for p in full)
    capped = build_pairs(cands, verdicts, max_per_task=5)
    assert len(capped) == 5 and len({(p.chosen, p.rejected) for p in capped}) == 5
    assert {p.chosen for p in capped} == {"ok0", "ok1", "ok2"}  # the cap keeps every passing text
    assert capped == build_pairs(cands, verdicts, max_per_task=5)  # seeded: the same pairs each run
    with pytest.raises(RrrError):
        build_pairs(cands, verdicts, max_per_task=0)


def test_hard_negatives_are_failures_scored_at_or_above_the_best_pass_or_in_top_k():
    scored = [cand("t", 0, "bad-high", 0.9), cand("t", 1, "ok", 0.5), cand("t", 2, "bad-tie", 0.5),
              cand("t", 3, "bad-low", 0.1), cand("u", 0, "bad", 0.9), cand("u", 1, "bad2", 0.8)]
    verdicts = [verdict("t", 0, "failed"), verdict("t", 1, "passed"), verdict("t", 2, "runtime_error"),
                verdict("t", 3, "failed"), verdict("u", 0, "failed"), verdict("u", 1, "failed")]
    hard = mine_hard_negatives(scored, verdicts, top_k=1, iteration=2)
    assert {(p.chosen, p.rejected) for p in hard} == {("ok", "bad-high"), ("ok", "bad-tie")}
    assert all(p.kind_ == "hard_negative" and p.iteration == 2 for p in hard)
    wider = mine_hard_negatives(scored, verdicts, top_k=4)
    assert ("ok", "bad-low") in {(p.chosen, p.rejected) for p in wider}


def test_dedupe_keeps_the_first_and_split_holds_out_whole_tasks():
    a = Pair("t", "python", "p", "c", "r", kind_="standard")
    b = Pair("t", "python", "p", "c", "r", kind_="hard_negative", iteration=1)
    assert dedupe_pairs([a, b, a]) == [a]
    pairs = [Pair(f"t{i % 10}", "python", "p", f"c{i}", "r") for i in range(50)]
    train, held = split_by_task(pairs, 0.2, seed=0)
    assert len({p.task_id for p in held}) == 2
    assert not {p.task_id for p in train} & {p.task_id for p in held}
    assert split_by_task(pairs, 0.2, seed=0) == (train, held)


def test_labelled_tasks_keep_one_copy_of_each_completion():
    cands = [cand("t", 0, "x"), cand("t", 1, "x"), cand("t", 2, "y"), cand("t", 3, "z")]
    verdicts = [verdict("t", 0, "passed"), verdict("t", 1, "passed"), verdict("t", 2, "failed")]
    [task] = labelled_tasks(cands, verdicts)
    assert task.completions == ["x", "y"] and task.passed == [True, False] and task.mixed


def test_pairs_carry_the_generator_log_probs_of_both_sides():
    cands = [Candidate(task_id="a", language="python", prompt="p", completion="ok", sample_id=0,
                       n_tokens=4, logprob_sum=-2.0),
             Candidate(task_id="a", language="python", prompt="p", completion="bad", sample_id=1,
                       n_tokens=5, mean_logprob=-1.0),
             Candidate(task_id="a", language="python", prompt="p", completion="bad2", sample_id=2)]
    verdicts = [verdict("a", 0, "passed"), verdict("a", 1, "failed"), verdict("a", 2, "failed")]
    pairs = {p.rejected: p for p in build_pairs(cands, verdicts)}
    assert (pairs["bad"].chosen_logprob_sum, pairs["bad"].chosen_n_tokens) == (-2.0, 4)
    assert (pairs["bad"].rejected_logprob_sum, pairs["bad"].rejected_n_tokens) == (-5.0, 5)  # from the mean
    assert pairs["bad2"].rejected_logprob_sum is None and "rejected_n_tokens" not in pairs["bad2"].to_dict()
    # Through JSON and back into labelled tasks (what validation reads).
    again = [Pair.from_dict(p.to_dict()) for p in pairs.values()]
    task = labelled_from_pairs(again)[0]
    assert task.logprobs_of("ok") == (-2.0, 4) and task.logprobs_of("bad") == (-5.0, 5)
    assert task.logprobs_of("bad2") is None
    scored = [cand("a", 0, "ok", 0.1), cand("a", 1, "bad", 0.9)]
    scored[1].logprob_sum, scored[1].n_tokens = -7.0, 7
    hard = mine_hard_negatives(scored, verdicts[:2])
    assert len(hard) == 1 and hard[0].rejected_logprob_sum == -7.0 and hard[0].chosen_logprob_sum is None
