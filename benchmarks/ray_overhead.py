"""What the Ray path costs over the local path: the same small `rrr eval` run both ways, on one machine.

Each timed run gets a fresh cache (the model file linked in, nothing else), so neither reuses the
other's samples or verdicts. For each CPU count C in `--cpus`, both paths get C CPUs: locally one
backend with C threads and a sandbox pool of C workers; on Ray (a local instance started with C CPUs)
C sampling workers of one thread each and execution chunks of one CPU each. With C = 1 the two do the
same work in the same order and the ratio is Ray's own cost (actors, a model load and sha256 check per
worker, moving records); with more CPUs it also compares C llama.cpp threads in one process with C
one-thread processes. The local and the Ray runs alternate, so a change in the machine's load weighs on
both; each run's load average is printed. The ratio is Ray's median wall time over the local one's,
without the Ray instance's own start (printed apart); the reports must be the same.

    python benchmarks/ray_overhead.py --tasks 6 -n 2 --max-tokens 48 --cpus 1 2 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cpu import cpu_description  # noqa: E402

from rrr_cli.evaluation.report import results as report_results  # noqa: E402
from rrr_cli.evaluation.runs import EvalSettings, run_eval  # noqa: E402
from rrr_cli.ranking.scorers import MeanLogprobScorer, PublicExamplesScorer, RandomScorer  # noqa: E402


def fresh_home(parent: Path, model_file: Path) -> Path:
    home = Path(tempfile.mkdtemp(dir=parent))
    (home / "cache" / "models").mkdir(parents=True)
    (home / "cache" / "models" / model_file.name).symlink_to(model_file)
    os.environ["RRR_HOME"] = str(home)
    return home


def timed_local(tasks, settings: EvalSettings, cpus: int, home: Path) -> tuple[float, dict]:
    from rrr_cli.generation.backends import open_backend

    os.environ["RRR_EXECUTION_WORKERS"] = str(cpus)
    start = time.monotonic()
    result = run_eval(tasks, settings, scorers(), root=home / "runs",
                      backend_factory=lambda s: open_backend(s.model, backend=s.backend, threads=cpus))
    return time.monotonic() - start, result.report


def timed_ray(tasks, settings: EvalSettings, cpus: int, home: Path) -> tuple[float, dict]:
    from rrr_cli.evaluation.executors import RayExecutor, RayOptions

    start = time.monotonic()
    with RayExecutor(RayOptions(workers=cpus, threads=1)) as cluster:
        result = run_eval(tasks, settings, scorers(), root=home / "runs", sampler=cluster.sample,
                          executor=cluster.execute)
    return time.monotonic() - start, result.report


def scorers():
    return [RandomScorer(seed=0), MeanLogprobScorer(), PublicExamplesScorer()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--benchmark", default="humaneval-python")
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("-n", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--cpus", type=int, nargs="+", default=[1, 2],
                        help="CPUs each path gets (Ray: workers and CPUs), one measurement per value")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import ray

    from rrr_cli.models import resolve_model
    from rrr_cli.tasks import load_tasks

    model_file = resolve_model(args.model).resolve()
    tasks = load_tasks([args.benchmark], limit=args.tasks)
    settings = EvalSettings(model=args.model, n=args.n, max_tokens=args.max_tokens, temperature=0.8, seed=0)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for cpus in args.cpus:
            results.append(measure(ray, tasks, settings, cpus, args.repeats, model_file, Path(scratch)))
    print(json.dumps({
        "cpu": cpu_description(),
        "run": {"benchmark": args.benchmark, "tasks": len(tasks), "n": args.n, "max_tokens": args.max_tokens,
                "model": args.model, "repeats": args.repeats},
        "ray_version": ray.__version__,
        "results": results,
    }, indent=1))


def measure(ray, tasks, settings: EvalSettings, cpus: int, repeats: int, model_file: Path, scratch: Path) -> dict:
    started = time.monotonic()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    ray_start = time.monotonic() - started
    runs: dict[str, list[float]] = {"local": [], "ray": []}
    loads: dict[str, list[float]] = {"local": [], "ray": []}
    reports = {}
    try:
        for _ in range(repeats):
            for mode, timed in (("local", timed_local), ("ray", timed_ray)):
                home = fresh_home(scratch, model_file)
                seconds, reports[mode] = timed(tasks, settings, cpus, home)
                runs[mode].append(seconds)
                loads[mode].append(round(os.getloadavg()[0], 2))
                print(f"{cpus} CPU(s) {mode:5s} {seconds:6.1f} s  (load {loads[mode][-1]})", file=sys.stderr)
    finally:
        ray.shutdown()
    local, remote = statistics.median(runs["local"]), statistics.median(runs["ray"])
    return {"cpus": cpus, "ray_start_s": round(ray_start, 1), "local_s": [round(s, 1) for s in runs["local"]],
            "ray_s": [round(s, 1) for s in runs["ray"]], "load_average": loads,
            "ratio_ray_over_local": round(remote / local, 2),
            "same_report": report_results(reports["local"]) == report_results(reports["ray"])}


if __name__ == "__main__":
    main()
