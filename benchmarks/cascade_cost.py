"""What a cascade costs against the bigger model alone, both timed in one run: seconds of sampling per task.

    python benchmarks/cascade_cost.py CASCADE_REPORT.json [--per-stratum 8] [--seed 0] [--threads 2]
        [--add EARLIER.json ...] [--json out.json]

CASCADE_REPORT.json is the `--json` output of `rrr eval --cascade MODEL`: its cascade rows say, per
task, the confidence of the pick and so whether a threshold escalates it. The sampling seconds those
runs recorded came from different hours and loads of a shared machine, so they cannot be compared
between the two models. Here both models are loaded in one process with the same threads and sample,
fresh (no cache), the eval's n and settings on a sample of the tasks: `--per-stratum` tasks escalated
at the report's threshold and as many not escalated, spread over the languages, the two models
alternating which goes first.

The estimate is post-stratified by confidence: the sweep's thresholds cut [0, 1] into bands, each
band weighs its share w of the report's tasks (known exactly), and its seconds are the mean over the
timed tasks in it (a band with none borrows the nearest band's). Per threshold t,

    cascade   = sum over bands of w * mean(t_small)  +  sum over bands below t of w * mean(t_big)
    big alone = sum over bands of w * mean(t_big)

The ratio cascade / big alone is printed with a 95% bootstrap interval, resampling the timed tasks
within each band. `--add` pools the timed tasks of earlier runs of this script (the same models,
threads and CPU; their `--json` files) with the ones timed now, and tasks already timed there are not
drawn again: `--per-stratum 0 --add A.json --add B.json` times nothing and pools A and B. Each timed
task is both models side by side in one process, so pooling runs made at other times is sound as long
as the machine is the same.
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


def bands(rows: list[dict], thresholds: list[float]) -> list[tuple[float, float, float]]:
    """(low, high, share of `rows`) for each confidence band the thresholds cut [0, 1] into."""
    edges = [0.0, *sorted(thresholds), float("inf")]
    return [(low, high, sum(low <= r["confidence"] < high for r in rows) / len(rows))
            for low, high in zip(edges, edges[1:])]


def in_band(timed: list[dict], low: float, high: float) -> list[dict]:
    return [r for r in timed if low <= r["confidence"] < high]


def estimate(timed: list[dict], cut: list[tuple[float, float, float]]) -> dict[float, dict[str, float]]:
    """Per threshold (the upper edges of `cut` but the last): seconds per task of the small model
    alone, the cascade and the big model alone, and their ratio; see the module docstring."""
    members = [in_band(timed, low, high) for low, high, _ in cut]
    filled = []
    for i, m in enumerate(members):  # an empty band borrows the nearest band's tasks, the one above on a tie
        nearest = min((k for k, other in enumerate(members) if other), key=lambda k: (abs(k - i), k < i))
        filled.append(m or members[nearest])
    small_s = [statistics.mean(r["small_s"] for r in m) for m in filled]
    big_s = [statistics.mean(r["big_s"] for r in m) for m in filled]
    small = sum(w * t for (_, _, w), t in zip(cut, small_s))
    big = sum(w * t for (_, _, w), t in zip(cut, big_s))
    out = {}
    for upto, (_, threshold, _) in enumerate(cut[:-1], start=1):
        cascade = small + sum(w * t for (_, _, w), t in zip(cut[:upto], big_s))
        out[threshold] = {"small": small, "cascade": cascade, "big": big, "ratio": cascade / big}
    return out


def resample(timed: list[dict], cut: list[tuple[float, float, float]], draw: random.Random) -> list[dict]:
    """The timed tasks drawn again with replacement within each band."""
    out = []
    for low, high, _ in cut:
        members = in_band(timed, low, high)
        out += [draw.choice(members) for _ in members]
    return out


def earlier_rows(path: Path, small: str, big: str, threads: int, cpu: str, rows: list[dict]) -> list[dict]:
    """The timed tasks of an earlier `--json` result, checked to be comparable with this run, each with
    its confidence as this report gives it."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        same = (earlier["small"], earlier["big"], earlier["threads"], earlier["cpu"]) == (small, big, threads, cpu)
        timed = [{**row, "small_s": _seconds(row["small_s"]), "big_s": _seconds(row["big_s"]),
                  "task_id": str(row["task_id"])} for row in earlier["timed"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{path}: not a cascade_cost.py result ({exc!r})") from None
    if not same:
        raise SystemExit(f"{path}: timed with other models, threads or CPU ({earlier['small']}, {earlier['big']}, "
                         f"{earlier['threads']} threads, {earlier['cpu']})")
    confidence = {r["task_id"]: r["confidence"] for r in rows}
    for row in timed:
        if row["task_id"] not in confidence:
            raise SystemExit(f"{path}: {row['task_id']} is not among this report's tasks")
        row["confidence"] = confidence[row["task_id"]]
    return timed


def _seconds(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{value!r} is not a number of seconds")
    return float(value)


def time_tasks(chosen: list[dict], settings: dict, small_name: str, big_name: str, threads: int,
               cpu: str) -> list[dict]:
    """Sample each chosen task with both models, fresh, in this process; their seconds."""
    from rrr_cli.generation.backends import open_backend
    from rrr_cli.generation.base import SamplingParams
    from rrr_cli.generation.sampling import sample_candidates
    from rrr_cli.tasks import load_tasks

    tasks = {t.task_id: t for t in load_tasks(["multipl-e"])}
    params = SamplingParams(n=settings["n"], temperature=settings["temperature"], top_p=settings["top_p"],
                            max_tokens=settings["max_tokens"], seed=settings["seed"])
    style = settings.get("prompt_style", "auto")
    print(f"{cpu}\nloading {small_name} and {big_name} ({threads} threads)", file=sys.stderr)
    backends = {name: open_backend(name, threads=threads) for name in (small_name, big_name)}

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
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="the --json output of rrr eval --cascade")
    parser.add_argument("--per-stratum", type=int, default=8, help="tasks timed among the escalated, and "
                        "as many among the others")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--boot", type=int, default=2000)
    parser.add_argument("--add", type=Path, action="append", default=[], metavar="EARLIER.json",
                        help="pool the timed tasks of an earlier run of this script (repeatable)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from cpu import cpu_description
    from rrr_cli.atomic import atomic_write_text

    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        cascade, settings = report["cascade"], report["settings"]
        rows, below = cascade["tasks"], float(cascade["below"])
        for row in rows:
            if isinstance(row["confidence"], bool) or not isinstance(row["confidence"], (int, float)):
                raise ValueError(f"{row['task_id']}: confidence {row['confidence']!r} is not a number")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"{args.report}: not the --json report of rrr eval --cascade ({exc})") from None
    if not any(r["confidence"] < below for r in rows) or all(r["confidence"] < below for r in rows):
        raise SystemExit(f"{args.report}: the cascade needs tasks on both sides of its threshold {below:g} to time")
    cpu = cpu_description()
    cpu = f"{cpu['model']} ({' '.join(cpu['simd'])})"
    small_name, big_name = settings["model"], cascade["model"]
    earlier = [earlier_rows(path, small_name, big_name, args.threads, cpu, rows) for path in args.add]
    timed = [row for rows_of in earlier for row in rows_of]
    done = {row["task_id"] for row in timed}
    draw = random.Random(args.seed)
    chosen = (spread([r for r in rows if r["confidence"] < below and r["task_id"] not in done], args.per_stratum, draw)
              + spread([r for r in rows if r["confidence"] >= below and r["task_id"] not in done], args.per_stratum,
                       draw))
    if chosen:
        timed += time_tasks(chosen, settings, small_name, big_name, args.threads, cpu)
    if not timed:
        raise SystemExit("nothing timed: give --per-stratum above 0 or --add an earlier result")
    shares = {step["below"]: step["average"]["escalated"] for step in cascade["sweep"]}
    cut = bands(rows, list(shares))
    point = estimate(timed, cut)
    boot: dict[float, list[float]] = defaultdict(list)
    for _ in range(args.boot):
        for threshold, figures in estimate(resample(timed, cut, draw), cut).items():
            boot[threshold].append(figures["ratio"])
    result = {"cpu": cpu, "report": str(args.report), "small": small_name, "big": big_name,
              "threads": args.threads, "timed": timed, "thresholds": []}
    counts = ", ".join(f"{len(in_band(timed, low, high))} in [{low:g}, {min(high, 1):g}{']' if high > 1 else ')'}"
                       for low, high, _ in cut)
    print(f"{cpu}, {args.threads} threads; {len(timed)} tasks timed, both models in one process "
          f"({len(timed) - len(chosen)} of them by earlier runs); by confidence: {counts}")
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
