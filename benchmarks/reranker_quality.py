"""reranked@1 of a trained reranker against mean log-prob and random on executed candidates.

    python benchmarks/reranker_quality.py CANDIDATES.jsonl VERDICTS.jsonl --reranker NAME|PATH
        [--also public_examples]

Prints one JSON object: tasks, candidates, pass@1, oracle, reranked@1 per scorer, and each scorer
paired against mean log-prob task by task (better / worse / same, two-sided sign test). Only tasks whose
candidates both pass and fail are given to the scorers: on a task where all pass (or all fail) every
scorer's pick passes (or fails), so those tasks count 1 (or 0) for all of them and need no scoring.
"""

from __future__ import annotations

import argparse
import json
import math
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates")
    parser.add_argument("verdicts")
    parser.add_argument("--reranker", default=None, help="default: the newest trained reranker")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--also", action="append", default=[], metavar="SCORER",
                        help="another scorer to report beside them, e.g. public_examples (repeatable)")
    args = parser.parse_args()

    from rrr_cli.metrics import pass_at_k, reranked_at_1
    from rrr_cli.ranking.rerank import task_of
    from rrr_cli.ranking.reward import RewardModelScorer
    from rrr_cli.ranking.base import score_many
    from rrr_cli.ranking.registry import get_scorer
    from rrr_cli.records import Candidate, Verdict, read_records
    from rrr_cli.training.pairs import verdict_index

    candidates = list(read_records(args.candidates, Candidate))
    index = verdict_index(read_records(args.verdicts, Verdict))
    groups: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        if candidate.key in index:
            groups.setdefault(candidate.task_id, []).append(candidate)
    passed = {t: [index[c.key].passed for c in members] for t, members in groups.items()}
    mixed = [t for t in groups if any(passed[t]) and not all(passed[t])]
    solved_by_all = sum(all(passed[t]) for t in groups)
    work = [(task_of(groups[t][0]), groups[t]) for t in mixed]

    scorers = {"random": get_scorer("random"), "mean_logprob": get_scorer("mean_logprob")}
    scorers.update({name: get_scorer(name) for name in args.also})
    started = time.perf_counter()
    scorers["reward_model"] = RewardModelScorer.load(args.reranker, batch_size=args.batch_size)
    load_s = time.perf_counter() - started
    out = {
        "tasks": len(groups), "candidates": sum(len(m) for m in groups.values()), "mixed_tasks": len(mixed),
        "pass@1": round(sum(pass_at_k(len(p), sum(p), 1) for p in passed.values()) / len(groups), 4),
        "oracle": round(sum(any(p) for p in passed.values()) / len(groups), 4),
        "reranked@1": {},
        "reranker": str(scorers["reward_model"].model.manifest.get("name")),
    }
    per_task: dict[str, list[float]] = {}
    for name, scorer in scorers.items():
        started = time.perf_counter()
        scores = score_many(scorer, work)
        seconds = time.perf_counter() - started
        per_task[name] = [reranked_at_1(s, passed[t]) for t, s in zip(mixed, scores)]
        out["reranked@1"][name] = round((solved_by_all + sum(per_task[name])) / len(groups), 4)
        if name == "reward_model":
            out["reward_model_scoring_s"] = round(seconds, 1)
            out["reward_model_load_s"] = round(load_s, 1)
    # Paired against mean log-prob on the tasks with both outcomes: where the picks' outcomes differ,
    # how often each scorer is the better one, and a two-sided sign test on those tasks.
    base = per_task["mean_logprob"]
    for name, values in per_task.items():
        if name == "mean_logprob":
            continue
        better = sum(a > b for a, b in zip(values, base))
        worse = sum(a < b for a, b in zip(values, base))
        n, k = better + worse, max(better, worse)
        p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n) if n else 1.0
        out.setdefault("vs_mean_logprob", {})[name] = {"better": better, "worse": worse,
                                                      "same": len(values) - n, "sign_test_p": round(p, 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
