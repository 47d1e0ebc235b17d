"""What a cascade costs against the bigger model alone, both timed in one run: seconds of sampling per task.

    python benchmarks/cascade_cost.py CASCADE_REPORT.json [--per-stratum 8] [--threads 2] [--json out.json]

CASCADE_REPORT.json is the `--json` output of `rrr eval --cascade MODEL`: its cascade rows say, per
task, the confidence of the pick and so whether a threshold escalates it. The sampling seconds those
runs recorded came from different hours and loads of a shared machine, so they cannot be compared
between the two models. Here both models are loaded in one process with the same threads and sample,
fresh (no cache), the eval's n and settings on a sample of the tasks: `--per-stratum` tasks escalated
at the report's threshold and as many not escalated, spread over the languages, the two models
alternating which goes first. Per threshold, with e its share of escalated tasks over the whole run
(known exactly from the report), the estimate is

    cascade  = mean_all(t_small) + e * mean_escalated(t_big)
    big alone = e * mean_escalated(t_big) + (1 - e) * mean_not_escalated(t_big)

where the means over all tasks are the strata's means weighted by e (a threshold below the report's
escalates a subset of its escalated stratum; its tasks' strata are re-drawn from the sampled ones).
The ratio cascade / big alone is printed with a 95% bootstrap interval, resampling tasks within each
stratum.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def spread(rows: list[dict], k: int, draw: random.Random) -> list[dict]:
    """`k` of these rows, taking the languages in turn (a random task of each), so every language shows."""
    by_group: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_group[row["group"]].append(row)
    for members in by_group.values():
        draw.shuffle(members)
    out: list[dict] = []
    while len(out) < k and any(by_group.values()):
        for group in sorted(by_group):
            if by_group[group] and len(out) < k:
                out.append(by_group[group].pop())
    return out


def estimate(timed: list[dict], shares: dict[float, float], below: float) -> dict[float, dict[str, float]]:
    """Per threshold: seconds per task of the small model alone, the cascade and the big model alone.
    `timed` rows carry confidence, small_s and big_s; a row is in the escalated stratum when its
    confidence is below the report's threshold `below`."""
    escalated = [r for r in timed if r["confidence"] < below]
    rest = [r for r in timed if r["confidence"] >= below]
    e = shares[below]  # the strata's weights: the report's threshold's share escalated
    small = e * statistics.mean(r["small_s"] for r in escalated) + (1 - e) * statistics.mean(r["small_s"] for r in rest)
    big = e * statistics.mean(r["big_s"] for r in escalated) + (1 - e) * statistics.mean(r["big_s"] for r in rest)
    out = {}
    for threshold, e_threshold in shares.items():
        # The tasks this threshold escalates are those of the escalated stratum under it: within that
        # stratum, their share is e_threshold / e, and their big-model cost is what the stratum's
        # tasks under the threshold took (the stratum's mean where none was sampled).
        under = [r for r in escalated if r["confidence"] < threshold] or escalated
        extra = e_threshold * statistics.mean(r["big_s"] for r in under)
        out[threshold] = {"small": small, "cascade": small + extra, "big": big, "ratio": (small + extra) / big}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the --json output of rrr eval --cascade")
    parser.add_argument("--per-stratum", type=int, default=8, help="tasks timed among the escalated, and "
                        "as many among the others")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from cpu import cpu_description
    from rrr_cli.atomic import atomic_write_text
    from rrr_cli.generation.backends import open_backend
    from rrr_cli.generation.base import SamplingParams
    from rrr_cli.generation.sampling import sample_candidates
    from rrr_cli.tasks import load_tasks

    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        cascade, settings = report["cascade"], report["settings"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{args.report}: not the --json report of rrr eval --cascade ({exc})") from None
    rows, below = cascade["tasks"], cascade["below"]
    if not any(r["confidence"] < below for r in rows) or all(r["confidence"] < below for r in rows):
        raise SystemExit(f"{args.report}: the cascade needs tasks on both sides of its threshold {below:g} to time")
    draw = random.Random(args.seed)
    chosen = (spread([r for r in rows if r["confidence"] < below], args.per_stratum, draw)
              + spread([r for r in rows if r["confidence"] >= below], args.per_stratum, draw))
    tasks = {t.task_id: t for t in load_tasks(["multipl-e"])}
    params = SamplingParams(n=settings["n"], temperature=settings["temperature"], top_p=settings["top_p"],
                            max_tokens=settings["max_tokens"], seed=settings["seed"])
    style = settings.get("prompt_style", "auto")
    small_name, big_name = settings["model"], cascade["model"]
    cpu = cpu_description()
    cpu = f"{cpu['model']} ({' '.join(cpu['simd'])})"
    print(f"{cpu}\nloading {small_name} and {big_name} ({args.threads} threads)", file=sys.stderr)
    backends = {name: open_backend(name, threads=args.threads) for name in (small_name, big_name)}

    def timed_sample(name: str, task) -> float:
        if hasattr(backends[name], "forget_prompt"):  # no prompt prefix kept from the task before
            backends[name].forget_prompt()
        started = time.perf_counter()
        list(sample_candidates([task], backends[name], params, style))  # a generator: run it through
        return time.perf_counter() - started

    for name in backends:  # a warm-up task each, untimed
        timed_sample(name, tasks[chosen[0]["task_id"]])
    timed = []
    for index, row in enumerate(chosen):
        task = tasks[row["task_id"]]
        order = (small_name, big_name) if index % 2 == 0 else (big_name, small_name)
        seconds = {name: timed_sample(name, task) for name in order}
        timed.append({"task_id": row["task_id"], "group": row["group"], "confidence": row["confidence"],
                      "small_s": seconds[small_name], "big_s": seconds[big_name]})
        print(f"{index + 1}/{len(chosen)} {row['task_id']} ({row['group']}): {small_name} "
              f"{seconds[small_name]:.1f} s, {big_name} {seconds[big_name]:.1f} s", file=sys.stderr)

    for engine in backends.values():
        engine.close()
    shares = {step["below"]: step["average"]["escalated"] for step in cascade["sweep"]}
    point = estimate(timed, shares, below)
    escalated = [r for r in timed if r["confidence"] < below]
    rest = [r for r in timed if r["confidence"] >= below]
    boot: dict[float, list[float]] = defaultdict(list)
    for _ in range(args.boot):
        resample = ([draw.choice(escalated) for _ in escalated] + [draw.choice(rest) for _ in rest])
        for threshold, figures in estimate(resample, shares, below).items():
            boot[threshold].append(figures["ratio"])
    result = {"cpu": cpu, "report": str(args.report), "small": small_name, "big": big_name,
              "threads": args.threads, "timed": timed, "thresholds": []}
    print(f"{cpu}, {args.threads} threads; {len(escalated)} escalated and {len(rest)} other "
          f"tasks timed, both models in one process")
    print(f"{'below':>6}{'escalated':>11}{'small s/task':>14}{'cascade s/task':>16}{'big s/task':>12}"
          f"{'cascade/big':>13}  95% interval")
    for threshold, figures in point.items():
        ratios = sorted(boot[threshold])
        low, high = ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]
        result["thresholds"].append({"below": threshold, "escalated": shares[threshold], **figures,
                                     "ratio_interval": [low, high]})
        print(f"{threshold:>6g}{100 * shares[threshold]:>10.1f}%{figures['small']:>14.1f}{figures['cascade']:>16.1f}"
              f"{figures['big']:>12.1f}{figures['ratio']:>13.2f}  [{low:.2f}, {high:.2f}]")
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
