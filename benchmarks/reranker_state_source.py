"""A trained reranker's picks with its pooled states from the torch trunk vs from the llama.cpp model.

A frozen-trunk reranker (`rrr train-reranker`'s default) scores a candidate by a head on the mean
pooled final state of prompt + completion (plus the generator's log-probs). The states were computed
by the torch trunk in training; `LlamaCppBackend.pooled_states` gives nearly the same states from the
GGUF model loaded for sampling (see benchmarks/pooled_state_sources.py). This scores the same
candidates through the same head both ways and prints how often each task's pick is the same, the
largest score difference next to the scores' spread, and reranked@1 of both (with VERDICTS). A pick
is the same when its completion is (a task's identical candidates score alike from the trunk, whose
states are kept per text, but may differ in the last digits from llama.cpp, so which of them is first
is not a difference). The torch seconds include its kept states (`cache/pooled-states/`).

    python benchmarks/reranker_state_source.py RERANKER CANDIDATES.jsonl VERDICTS.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import numpy as np

from cpu import cpu_description  # benchmarks/, beside this script
from rrr_cli.generation.llamacpp import LlamaCppBackend
from rrr_cli.records import Candidate, Verdict, read_records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reranker", help="a trained reranker's name or directory (no evidence inputs)")
    parser.add_argument("candidates")
    parser.add_argument("verdicts")
    args = parser.parse_args(argv)

    import torch

    from rrr_cli.reranker import RewardModel, extra_rows, find_reranker

    model = RewardModel.load(find_reranker(args.reranker), merge=True)
    if not model.frozen or model.settings.evidence_inputs:
        raise SystemExit("a frozen-trunk reranker without evidence inputs (--features text) is needed here")
    candidates = list(read_records(args.candidates, Candidate))
    passed = {(v.task_id, v.sample_id): v.status == "passed" for v in read_records(args.verdicts, Verdict)}
    tasks: dict[str, list[Candidate]] = defaultdict(list)
    for c in candidates:
        tasks[c.task_id].append(c)

    started = time.perf_counter()
    torch_scores = model.score_texts([(c.prompt, c.completion) for c in candidates],
                                     logprobs=[c.logprobs for c in candidates])
    torch_s = time.perf_counter() - started
    backend = LlamaCppBackend(model.base.path, model_name=model.base.spec)
    started = time.perf_counter()
    llama_scores = []
    for group in tasks.values():
        encoded = [model.encode(c.prompt, c.completion) for c in group]
        states = backend.pooled_states(list(encoded[0][:encoded[0].start]), [list(e[e.start:]) for e in encoded])
        rows = extra_rows(model.settings, [c.logprobs for c in group])
        with torch.inference_mode():
            values = model.head_scores(torch.as_tensor(np.stack(states)).to(model.device), rows)
        llama_scores += [float(v) for v in values.float().cpu().tolist()]
    llama_s = time.perf_counter() - started

    by_task_torch, by_task_llama, at = {}, {}, 0
    for task_id, group in tasks.items():
        by_task_torch[task_id] = torch_scores[at:at + len(group)]
        by_task_llama[task_id] = llama_scores[at:at + len(group)]
        at += len(group)
    same, right_torch, right_llama = 0, 0, 0
    for task_id, group in tasks.items():
        pick_t = group[int(np.argmax(by_task_torch[task_id]))]
        pick_l = group[int(np.argmax(by_task_llama[task_id]))]
        same += pick_t.completion == pick_l.completion  # identical candidates are one pick
        right_torch += passed.get((task_id, pick_t.sample_id), False)
        right_llama += passed.get((task_id, pick_l.sample_id), False)
    a, b = np.array(torch_scores), np.array(llama_scores)
    cpu = cpu_description()
    print(json.dumps({"cpu": f"{cpu['model']} ({' '.join(cpu['simd'])})", "tasks": len(tasks),
                      "candidates": len(candidates), "same_pick": same,
                      "reranked@1": {"torch": round(right_torch / len(tasks), 4), "llama.cpp": round(right_llama / len(tasks), 4)},
                      "score_abs_diff": {"mean": round(float(np.abs(a - b).mean()), 5), "max": round(float(np.abs(a - b).max()), 5)},
                      "score_std": round(float(a.std()), 5),
                      "seconds": {"torch": round(torch_s, 1), "llama.cpp": round(llama_s, 1)}}))
    backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
