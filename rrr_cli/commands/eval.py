"""`rrr eval`: pass@k, oracle and reranked@1 per language and per scorer, like the paper's Table 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from rrr_cli import config
from rrr_cli.commands import options
from rrr_cli.errors import RrrError
from rrr_cli.records import known_languages
from rrr_cli.ui import help_text

DEFAULT_SCORERS = "random,mean_logprob,public_examples"


def _sources(benchmarks: list[str], languages: list[str] | None) -> list[str]:
    """Benchmark names with `multipl-e` expanded per language, so --limit applies to each language."""
    from rrr_cli.tasks.benchmarks import ALIASES, HUMANEVAL

    sources = []
    for name in benchmarks:
        for member in ALIASES.get(name, [name]):
            if member in HUMANEVAL and languages and HUMANEVAL[member] not in languages:
                continue
            sources.append(member)
    return sources


def _languages(text: Optional[str]) -> list[str] | None:
    if not text:
        return None
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    known = known_languages()  # the eight and any installed by a plugin (`rrr plugins`)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise RrrError(f"--languages: unknown language {unknown[0]!r} (known: {', '.join(known)})")
    return chosen


def command(
    benchmark: Optional[List[str]] = typer.Option(
        None, "--benchmark", "-b", help="humaneval-<lang> (python, cpp, java, php, ts, cs, sh, js), multipl-e "
        "(all eight), or mbpp; repeatable (default: humaneval-python)."),
    tasks_file: Optional[Path] = typer.Option(None, "--tasks", help="Evaluate the tasks of this file "
                                              "(JSONL of tasks, or a task file) instead of a benchmark."),
    languages: Optional[str] = typer.Option(None, "--languages", "-l",
                                            help="Only these languages, comma-separated (e.g. python,cpp)."),
    limit: Optional[int] = options.Limit,
    split: Optional[str] = options.Split,
    model: Optional[str] = options.Model,
    backend: Optional[str] = options.Backend,
    n: Optional[int] = typer.Option(None, "-n", help="Candidates per task (default: 10)."),
    temperature: Optional[float] = options.Temperature,
    top_p: Optional[float] = options.TopP,
    max_tokens: Optional[int] = options.MaxTokens,
    seed: Optional[int] = options.Seed,
    greedy: bool = typer.Option(False, "--greedy", help="Also sample one greedy answer per task and report "
                                "its pass@1."),
    prompt_style: Optional[str] = options.PromptStyle,
    scorers: str = typer.Option(DEFAULT_SCORERS, "--scorers", help="Comma-separated scorers: random, "
                                "mean_logprob, public_examples, consensus (consensus-dual, consensus-mbr), "
                                "evidence, weighted:NAME=W+NAME=W, reranker:NAME, or a plugin's name."),
    reranker: Optional[str] = typer.Option(None, "--reranker", help="Also score with this trained "
                                           "reranker (a name under the cache's rerankers/, or a path)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    as_markdown: bool = typer.Option(False, "--markdown", help="Print the table as Markdown."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Also draw reranked@1 per scorer per language, "
                                        "and reranked@1 as N grows, to this PNG."),
    calibration: bool = typer.Option(False, "--calibration", help="Also report how well the confidence "
                                     "rrr solve prints is calibrated: per scorer, the expected calibration error "
                                     "of its picks (10 bins), their mean confidence and accuracy (the shipped "
                                     "model was fitted on the first 80 MultiPL-E tasks of each language: on those, "
                                     "the figures are in-sample)."),
    reliability: Optional[Path] = typer.Option(None, "--reliability", metavar="FILE.png", help="Draw the "
                                               "reliability diagram of every scorer's picks (implies --calibration)."),
    confidence_folds: int = typer.Option(0, "--confidence-folds", metavar="K", help="For --calibration and "
                                         "--cascade: judge each task's confidence with the shipped model's recipe "
                                         "fitted on this run's other K folds (by HumanEval problem number), not the "
                                         "shipped model: out of fold on the tasks it was fitted on (0: the shipped "
                                         "model)."),
    cascade: Optional[str] = typer.Option(None, "--cascade", metavar="MODEL", help="Also measure a cascade: "
                                          "where the confidence of --cascade-scorer's pick is below --cascade-below, "
                                          "MODEL samples as many candidates (its own cached run) and the pick is made "
                                          "again, among both models' candidates (join) and among MODEL's (replace); "
                                          "reported for every threshold up to the one given."),
    cascade_below: float = typer.Option(options.CASCADE_BELOW, "--cascade-below", metavar="P", help="The "
                                        "cascade's highest threshold (default: rrr solve --cascade-below's)."),
    cascade_scorer: Optional[str] = typer.Option(None, "--cascade-scorer", help="The scorer whose pick the "
                                                 "cascade judges (default: public_examples when scored, else the "
                                                 "first of --scorers)."),
    reference: Optional[Path] = typer.Option(None, "--reference", metavar="REPORT.json",
                                             help="The report.json of another `rrr eval` run (a bigger "
                                             "model at -t 0, or with --greedy): its greedy pass@1 is drawn "
                                             "as a line on the --plot chart."),
    threads: Optional[int] = options.Threads,
    executor: str = typer.Option("local", "--executor", help="Where sampling and execution run: local (this "
                                 "process) or ray (a Ray cluster; pip install 'rrr[ray]')."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", metavar="ADDR", help="The Ray cluster for "
                                              "--executor ray (default: RAY_ADDRESS, else a local instance "
                                              "started for the run)."),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", help="Sampling workers on Ray, each "
                                              "holding one model and --threads CPUs (default: the "
                                              "cluster's CPUs divided by --threads)."),
    ray_gpus_per_worker: float = typer.Option(0.0, "--ray-gpus-per-worker", help="GPUs each Ray sampling "
                                              "worker takes (--backend vllm: the tensor-parallel size, "
                                              "vllm.tensor_parallel_size)."),
) -> None:
    """Evaluate pass@k, oracle and reranked@1 per language.

    Evaluates the generator and the scorers: samples N candidates per task, runs them in the sandbox,
    and reports pass@1, pass@k, the oracle
    (pass@N), and reranked@1 with the share of the pass@1-to-oracle gap each scorer recovers. A run is
    kept under the cache's runs/ with its report.json: the same command again is instant and an
    interrupted one resumes.

    Examples:

      rrr eval --benchmark humaneval-python --limit 20 -n 8

      rrr eval --benchmark multipl-e --limit 20 -n 8 --markdown --plot eval.png

      rrr eval --benchmark mbpp --split validation --reranker NAME --json

      rrr eval --limit 20 -n 1 -t 0 --model qwen2.5-coder-1.5b-instruct

      rrr eval --limit 20 -n 8 --plot eval.png --reference REPORT.json

      rrr eval --benchmark multipl-e --limit 40 -n 8 --reliability rel.png

      rrr eval --benchmark multipl-e -n 8 --executor ray --ray-address HOST:6379
    """
    from rrr_cli.evaluation import report as render
    from rrr_cli.evaluation.executors import RayOptions, check_executor, executor_for
    from rrr_cli.evaluation.runs import EvalSettings, run_eval
    from rrr_cli.generation.prompts import check_style
    from rrr_cli.ranking.registry import get_scorer
    from rrr_cli.tasks import load_tasks
    from rrr_cli.ui import notice, progress, show, write_data

    if as_json and as_markdown:
        raise RrrError("--json and --markdown are exclusive")
    executor = check_executor(executor)
    if executor != "ray" and (ray_address is not None or ray_workers is not None or ray_gpus_per_worker):
        raise RrrError("--ray-address, --ray-workers and --ray-gpus-per-worker go with --executor ray")
    if ray_workers is not None and ray_workers < 1:
        raise RrrError(f"--ray-workers must be at least 1 (got {ray_workers})")
    if cascade is None and (cascade_scorer is not None or cascade_below != options.CASCADE_BELOW):
        raise RrrError("--cascade-below and --cascade-scorer go with --cascade MODEL")
    if confidence_folds == 1 or confidence_folds < 0:
        raise RrrError(f"--confidence-folds must be 0 (the shipped model) or at least 2, got {confidence_folds}")
    if not 0 <= cascade_below <= 1:
        raise RrrError(f"--cascade-below must be a probability in [0, 1], got {cascade_below}")
    if reliability is not None:
        render.figure_path(reliability)  # a bad name fails before the run, not after it
    if reference is not None and plot is None:
        raise RrrError("--reference is drawn on the chart: give --plot FILE.png too")
    reference_report = render.load_reference(reference) if reference is not None else None
    engine_settings = options.backend_settings(None, threads)
    params = options.sampling_params("sample", n, temperature, top_p, max_tokens, seed)
    style = check_style(config.get("sample.prompt_style", prompt_style))
    chosen = _languages(languages)
    if tasks_file is not None:
        if benchmark:
            raise RrrError("--tasks and --benchmark are exclusive")
        tasks = load_tasks([str(tasks_file)], limit=limit, split=split)
    else:
        tasks = load_tasks(_sources(benchmark or ["humaneval-python"], chosen), limit=limit, split=split)
    if chosen:
        tasks = [task for task in tasks if task.language in chosen]
    tasks = _with_toolchains(tasks, notice)
    if not tasks:
        raise RrrError("no tasks to evaluate (check --benchmark, --languages and --limit)")

    seed_value = params.seed if params.seed is not None else 0
    names = [name.strip() for name in scorers.split(",") if name.strip()]
    chosen_scorers = [get_scorer(name.replace("+", ","), seed=seed_value) for name in names]
    if reranker is not None:
        chosen_scorers.append(get_scorer("reranker", path=reranker))
    settings = EvalSettings(
        model=str(config.get("models.default", model)), backend=str(config.get("sample.backend", backend)),
        n=params.n, temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_tokens,
        seed=seed_value, prompt_style=style)

    # --threads 0 (every core) would give each Ray worker a whole node: one CPU each unless told.
    cluster_options = RayOptions(address=ray_address, workers=ray_workers,
                                 threads=max(1, engine_settings["threads"]), gpus_per_worker=ray_gpus_per_worker)
    with progress() as bar, executor_for(executor, cluster_options, n_ctx=engine_settings["n_ctx"]) as cluster:
        def advance_for(description: str, total: int):
            job = bar.add_task(description, total=total)
            return lambda k=1: bar.advance(job, k)

        def open_generator(run_settings: EvalSettings):
            from rrr_cli.generation.backends import open_backend

            return open_backend(run_settings.model, backend=run_settings.backend,
                                threads=engine_settings["threads"])

        # Locally the backend samples in this process; on Ray the cluster samples and executes.
        where = ({"backend_factory": open_generator} if cluster is None
                 else {"sampler": cluster.sample, "executor": cluster.execute})
        generator = _probe_generator(chosen_scorers, settings, open_generator)
        try:
            result = run_eval(tasks, settings, chosen_scorers, greedy=greedy, progress=advance_for,
                              **where)
            if cascade is not None:
                result.report["cascade"] = _cascade(result, tasks, settings, chosen_scorers, cascade, cascade_below,
                                                    cascade_scorer, advance_for, where, confidence_folds)
        finally:
            if generator:
                generator.close()
    report = result.report
    if calibration or reliability is not None:
        report["calibration"] = _calibration(result, tasks, confidence_folds)
        if reliability is not None:
            from rrr_cli.evaluation.calibration import plot_reliability

            plot_reliability(report["calibration"], reliability,
                             f"rrr solve confidence, {len(tasks)} tasks")
            notice(f"wrote {reliability}")
    if plot is not None:
        if reference_report is not None:
            ours = {row["task_id"] for row in report["tasks"]}
            theirs = {row["task_id"] for row in reference_report.get("tasks", [])}
            if ours != theirs:
                notice(f"--reference {reference}: only {len(ours & theirs)} of this run's {len(ours)} tasks are "
                       f"in it (it has {len(theirs)}); its line compares other tasks")
        render.plot(report, plot, reference=reference_report)
        notice(f"wrote {plot}")
    if as_json:
        write_data(json.dumps(report, indent=1) + "\n")
    elif as_markdown:
        write_data(render.markdown(report))
    else:
        show(render.rich_table(report))
        for line in render.calibration_lines(report) + render.cascade_lines(report):
            show(line)
    notice(f"run: {result.run_dir} ({report['timings']['total_s']:.1f} s)")


def _calibration(result, tasks, folds):
    """The calibration of every scorer's picks in the run (`evaluation.calibration`)."""
    from rrr_cli.evaluation.calibration import calibration
    from rrr_cli.ui import progress

    with progress() as bar:
        job = bar.add_task(f"calibration ({len(tasks)} tasks)", total=len(tasks))
        return calibration(tasks, result.candidates, result.verdicts, result.scores,
                           advance=lambda k: bar.advance(job, k), folds=folds)


def _cascade(result, tasks, settings, scorers, model, below, scorer_name, advance_for, where, folds):
    """The cascade section of the report (`evaluation.cascade`): confidences of the scorer's picks,
    MODEL's run on the tasks below `below`, and the picks made again."""
    import dataclasses

    from rrr_cli.evaluation.calibration import pick_confidences
    from rrr_cli.evaluation.cascade import cascade_report, cascade_rows, escalated
    from rrr_cli.evaluation.runs import EvalResult, run_eval

    if model == settings.model:
        raise RrrError(f"--cascade {model} is the run's own model: name a bigger one")
    name = scorer_name or ("public_examples" if "public_examples" in result.scores else scorers[0].name)
    chosen = next((scorer for scorer in scorers if scorer.name == name), None)
    if chosen is None:
        raise RrrError(f"--cascade-scorer {name}: not among the scored ({', '.join(result.scores)})")
    confidences = pick_confidences(tasks, result.candidates, result.verdicts, {name: result.scores[name]},
                                   advance=advance_for(f"cascade: confidence ({len(tasks)} tasks)", len(tasks)),
                                   folds=folds)[name]
    up = escalated(tasks, confidences, below)
    big = (run_eval(up, dataclasses.replace(settings, model=model), [chosen], progress=advance_for, **where)
           if up else EvalResult(report={}, run_dir=result.run_dir))
    section = cascade_report(cascade_rows(tasks, result, big, chosen, confidences), model, name, below)
    section["confidence"] = f"out of fold ({folds} folds of this run)" if folds else "the shipped model"
    return section


def _probe_generator(scorers, settings, open_generator):
    """Consensus scorers also probe with calls the generator writes: one on-disk cache for them all,
    which opens the model (after sampling) only for tasks whose calls are not cached yet."""
    from rrr_cli.ranking.consensus import ConsensusScorer
    from rrr_cli.ranking.probe_cache import GeneratedProbes

    consensus = [scorer for scorer in scorers if isinstance(scorer, ConsensusScorer) and scorer.generator is None]
    if not consensus:
        return None
    generator = GeneratedProbes(settings.model, open_backend=lambda: open_generator(settings))
    for scorer in consensus:
        scorer.generator = generator
    return generator


def _with_toolchains(tasks, notice):
    """Drop the tasks of languages whose toolchain is not installed, saying which and what to install."""
    from rrr_cli.execution import toolchain_missing

    missing = {}
    for language in sorted({task.language for task in tasks}):
        problem = toolchain_missing(language)
        if problem:
            missing[language] = problem
            notice(f"skipping {language}: {problem}")
    return [task for task in tasks if task.language not in missing]


command.__doc__ = help_text(command.__doc__)
