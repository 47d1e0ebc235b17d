"""What consensus costs per language: probe generation's share of sampling, and programs per candidate.

    python benchmarks/probe_cost.py RUN_DIR [--threads 1] [--generate-only] [--json]

RUN_DIR is an `rrr eval` run (`runs/eval-*`) of the default model. For every task of the run's sample
log (or, with `--generate-only`, every task of MultiPL-E's first `--limit` per language, to fill the
probe cache before a long eval finishes sampling):

- probe generation: the seconds of the one greedy generation that writes a task's extra calls
  (`ranking.probe_cache`; a task already cached reports the seconds stored when it was asked), against
  the seconds the run spent sampling that task's N candidates (`task_sampling_s` in the sample log);
- probe execution: the consensus scorer runs with a counting probe runner, so the programs it starts
  per candidate are counted (one, plus the per-probe rebuild a compiled language needs when an
  ill-typed probe stops every candidate building), next to the example runs `public_examples` makes.

Both timings come from the CPU named in the output; generation here and the run's sampling may have
run under different load (a shared machine), so the share is indicative, not a ratio in one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="an eval run directory (runs/eval-*)")
    parser.add_argument("--model", default=None, help="the generator (default: models.default)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=40, help="tasks per language with --generate-only")
    parser.add_argument("--generate-only", action="store_true", help="only fill the probe cache")
    parser.add_argument("--per-language", type=int, default=5,
                        help="tasks per language whose probe execution is timed (every program really runs)")
    parser.add_argument("--batch", type=int, default=8, help="tasks asked together (rrr eval scores 8 at a time)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from cpu import cpu_description

    from rrr_cli import config
    from rrr_cli.generation.backends import open_backend
    from rrr_cli.ranking.probe_cache import GeneratedProbes
    from rrr_cli.records import Candidate, RecordError
    from rrr_cli.tasks import load_tasks
    from rrr_cli.tasks.benchmarks import ALIASES

    model = args.model or str(config.get("models.default"))
    cpu = cpu_description()
    cpu_line = f"{cpu['model']}, {cpu['cpus']} logical CPUs, {' '.join(cpu['simd'])}"
    tasks = load_tasks(ALIASES["multipl-e"], limit=args.limit)
    samples: dict[str, list[Candidate]] = defaultdict(list)
    if args.run:
        from rrr_cli.evaluation.runs import logged_candidates

        try:
            samples.update(logged_candidates(Path(args.run)))
        except RecordError as exc:
            raise SystemExit(str(exc)) from None
        if not args.generate_only:
            tasks = [task for task in tasks if task.task_id in samples]
    if not tasks:
        raise SystemExit("no tasks: give an eval run directory whose sample log has tasks")
    generator = GeneratedProbes(model, open_backend=lambda: open_backend(model, threads=args.threads))
    generation: dict[str, float] = {}
    try:
        for start in range(0, len(tasks), args.batch):
            chunk = tasks[start:start + args.batch]
            generator.prefetch(chunk)
            for task in chunk:
                generation[task.task_id] = float(generator.cached(task)["seconds"])
            print(f"\r{start + len(chunk)}/{len(tasks)} generated", end="", file=sys.stderr, flush=True)
    finally:
        generator.close()
        print(file=sys.stderr)
    if args.generate_only:
        print(f"probe cache filled for {len(tasks)} tasks ({generator.asked} asked now, "
              f"{generator.seconds:.1f} s) on {cpu_line}")
        return
    timed = [task for language in dict.fromkeys(t.language for t in tasks)
             for task in [t for t in tasks if t.language == language][:args.per_language]]
    rows = _execution_costs(timed, samples, generator)
    per_language: dict[str, dict] = {}
    for language in dict.fromkeys(task.language for task in tasks):
        ids = [task.task_id for task in tasks if task.language == language]
        sampling = [samples[i][0].extra.get("task_sampling_s") for i in ids]
        sampling = [float(s) for s in sampling if isinstance(s, (int, float))]
        gen = [generation[i] for i in ids]
        per_language[language] = {
            "tasks": len(ids),
            "generation_s_per_task": statistics.mean(gen),
            "sampling_s_per_task": statistics.mean(sampling) if sampling else None,
            "generation_share": (sum(gen) / (sum(gen) + sum(sampling))) if sampling else None,
            **{key: statistics.mean(rows[i][key] for i in ids if i in rows)
               for key in next(iter(rows.values()))},
        }
    result = {"cpu": cpu_line, "model": model, "threads": args.threads, "languages": per_language}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{model}, {args.threads} thread(s), {cpu_line}")
    print(f"{'lang':<7}{'tasks':>6}{'gen s':>8}{'sample s':>10}{'gen share':>11}{'probe progs/cand':>18}"
          f"{'example progs/cand':>20}{'probe s/task':>14}")
    for language, row in per_language.items():
        share = "-" if row["generation_share"] is None else f"{row['generation_share']:.1%}"
        sampling = "-" if row["sampling_s_per_task"] is None else f"{row['sampling_s_per_task']:.1f}"
        print(f"{language:<7}{row['tasks']:>6}{row['generation_s_per_task']:>8.1f}{sampling:>10}{share:>11}"
              f"{row['probe_programs_per_candidate']:>18.2f}{row['example_programs_per_candidate']:>20.2f}"
              f"{row['probe_s_per_task']:>14.2f}")


def _execution_costs(tasks, samples, generator) -> dict[str, dict[str, float]]:
    """Per task: programs started per candidate by the consensus probes and by the examples, and the
    probe stage's wall seconds (cache off, so every program really runs)."""
    from rrr_cli.execution.probes import run_probes_many
    from rrr_cli.ranking.consensus import ConsensusScorer
    from rrr_cli.execution import run_programs

    out = {}
    for task in tasks:
        candidates = samples[task.task_id]
        counts = {"probe": 0, "example": 0}

        def probe_runner(jobs):
            counts["probe"] += len(jobs)
            return run_probes_many(jobs, cache=False)

        def runner(jobs):
            counts["example"] += len(jobs)
            return run_programs(jobs, cache=False)

        scorer = ConsensusScorer(runner=runner, probe_runner=probe_runner, generator=generator)
        started = time.perf_counter()
        scorer.score(task, candidates)
        out[task.task_id] = {"probe_programs_per_candidate": counts["probe"] / len(candidates),
                             "example_programs_per_candidate": counts["example"] / len(candidates),
                             "probe_s_per_task": time.perf_counter() - started}
    return out


if __name__ == "__main__":
    main()
