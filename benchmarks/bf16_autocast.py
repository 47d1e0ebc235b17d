"""What bf16 autocast costs the reward model's forward pass on this CPU, against float32, in one run.

rrr turns bf16 autocast on only where the hardware has native bf16 (a CUDA device, or a CPU with
AVX512-BF16 / AMX: `training.reward_model.bf16_supported`). This measures the forward pass of the reward
model (trunk + pooling + head) on the same HumanEval prompt + canonical-solution texts both ways,
alternating float32 and bf16 runs so background load hits both alike, and reports each side's best
time, the ratio, how far the bf16 scores are from the float32 ones, and the CPU.

    python benchmarks/bf16_autocast.py [--base-model NAME] [--texts 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

from cpu import cpu_description  # benchmarks/cpu.py, beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", default=None, help="catalog name or GGUF (default: the default model)")
    parser.add_argument("--texts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    args = parser.parse_args()

    import torch

    from rrr_cli.tasks.benchmarks import load_benchmark
    from rrr_cli.reranker import RewardModel, RewardModelSettings, bf16_supported

    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = load_benchmark("humaneval-python")[: args.texts]
    model = RewardModel.from_base(args.base_model, RewardModelSettings(trainable_layers=0), device="cpu")
    texts = [model.encode(task.prompt, str(task.extra.get("canonical_solution", "    pass\n"))) for task in tasks]
    tokens = sum(len(text) for text in texts)

    # Wall time and this process's CPU seconds: on a shared machine the CPU seconds move less with load.
    timings: dict[str, list[float]] = {"float32": [], "bf16": []}
    cpu_times: dict[str, list[float]] = {"float32": [], "bf16": []}
    scores: dict[str, torch.Tensor] = {}
    for _ in range(args.repeats):
        for name, use_bf16 in (("float32", False), ("bf16", True)):
            model.use_bf16 = use_bf16
            start, start_cpu = time.perf_counter(), time.process_time()
            with torch.no_grad():
                scores[name] = model.forward_ids(texts).float().flatten()
            timings[name].append(time.perf_counter() - start)
            cpu_times[name].append(time.process_time() - start_cpu)
    best = {name: min(values) for name, values in timings.items()}
    best_cpu = {name: min(values) for name, values in cpu_times.items()}
    report = {
        "cpu": cpu_description(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "bf16_autocast_by_default_here": bf16_supported(), "texts": len(texts), "tokens": tokens,
        "float32_s": round(best["float32"], 3), "bf16_s": round(best["bf16"], 3),
        "bf16_over_float32_time": round(best["bf16"] / best["float32"], 2),
        "float32_cpu_s": round(best_cpu["float32"], 3), "bf16_cpu_s": round(best_cpu["bf16"], 3),
        "bf16_over_float32_cpu_time": round(best_cpu["bf16"] / best_cpu["float32"], 2),
        "max_abs_score_difference": round(float((scores["bf16"] - scores["float32"]).abs().max()), 4),
        "score_spread_float32": round(float(scores["float32"].std()), 4),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
