"""`rrr selftrain`: the iterative self-training loop (PPO + hard negatives), resumable, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from rrr_cli.errors import RrrError
from rrr_cli.ui import help_text

O = typer.Option


def command(
    iterations: Optional[int] = O(None, "--iterations", "-k", help="Self-training iterations (quick profile: 3)."),
    profile: str = O("quick", "--profile", help="Defaults for every knob: quick (3 iterations in about 2 h on a 2-core CPU; "
                       "settings.QUICK_SIZING says how) or full (GPU)."),
    resume: Optional[str] = O(None, "--resume", metavar="RUN", help="Continue an interrupted run (id or folder)."),
    report: Optional[str] = O(None, "--report", metavar="RUN", help="Print a run's per-iteration report and write its PNG."),
    png: Optional[Path] = O(None, "--png", help="Where --report writes the chart (default: RUN/report.png)."),
    as_json: bool = O(False, "--json", help="Print the report as JSON (every figure, seconds per stage) instead of tables."),
    run_id: Optional[str] = O(None, "--run-id", help="Name of a new run (default: a timestamp)."),
    tasks: Optional[List[str]] = O(None, "--tasks", help="Training task source(s) (default: mbpp multipl-e)."),
    split: Optional[str] = O(None, "--split", help="Split of MBPP for training (default: train+validation)."),
    mbpp_tasks: Optional[int] = O(None, "--mbpp-tasks", help="How many MBPP training tasks, 0 = all (quick profile: 32)."),
    train_per_language: Optional[int] = O(None, "--train-per-language", help="Training tasks per language from the "
                                          "other sources, outside the held-out fold; 0 = all (quick profile: 1)."),
    heldout: Optional[List[str]] = O(None, "--heldout", help="Held-out task source(s) for the report (default: multipl-e)."),
    heldout_per_language: Optional[int] = O(None, "--heldout-per-language", help="Held-out tasks per language, 0 = "
                                            "all of the fold (quick profile: 8, 64 tasks in all)."),
    folds: Optional[int] = O(None, "--folds", help="Folds by problem number (tasks.folds.fold_of); 0 = the held-out "
                             "sources whole (default: 2)."),
    heldout_fold: Optional[int] = O(None, "--heldout-fold", help="The held-out fold; the training tasks outside MBPP "
                                    "come from the others (default: 1, fold B)."),
    generator: Optional[str] = O(None, "--generator", "-m", help="Base generator: catalog name, GGUF or HF folder."),
    backend: Optional[str] = O(None, "--backend", help="Backend for the base generator (default: auto)."),
    n: Optional[int] = O(None, "-n", "--n", help="Candidates per task (quick profile: 8)."),
    temperature: Optional[float] = O(None, "--temperature", help="Sampling temperature (default: 0.8)."),
    top_p: Optional[float] = O(None, "--top-p", help="Nucleus sampling (default: 0.95)."),
    max_tokens: Optional[int] = O(None, "--max-tokens", help="Tokens per candidate (default: 512, as rrr eval)."),
    prompt_style: Optional[str] = O(None, "--prompt-style", help="auto, chat or completion (default: auto: chat for Python, completion elsewhere)."),
    seed: Optional[int] = O(None, "--seed", help="Run seed (default: 0)."),
    exec_timeout_s: Optional[float] = O(None, "--exec-timeout", help="Seconds per program (default: 10)."),
    heldout_policy_n: Optional[int] = O(None, "--heldout-policy-n", help="Held-out candidates per task from each "
                                        "iteration's PPO policy (quick profile: 2)."),
    features: Optional[str] = O(None, "--features", help="The reranker: exec (reads what running each candidate "
                                "showed, rrr train-reranker's default) or text (the paper's; default: exec)."),
    reranker_base: Optional[str] = O(None, "--reranker-base", help="Reward model base weights (default: the generator)."),
    states: Optional[str] = O(None, "--states", help="Where the reranker's pooled states come from, as rrr "
                              "train-reranker --states: llama.cpp, trunk, none, or auto (default: llama.cpp for a "
                              "GGUF base on a CPU, trunk for an HF folder or on a GPU)."),
    hard_negative_top_k: Optional[int] = O(None, "--hard-negative-top-k", help="Failing candidates in the top k are hard negatives (default: 1)."),
    no_ppo: Optional[bool] = O(None, "--no-ppo/--ppo", help="The paper's other second iteration: hard negatives "
                               "from the base generator's fresh samples, no PPO."),
    ppo_steps: Optional[int] = O(None, "--ppo-steps", help="PPO steps per iteration (quick profile: 3)."),
    ppo_batch_size: Optional[int] = O(None, "--ppo-batch-size", help="Rollouts per PPO step (quick profile: 4)."),
    ppo_mini_batch_size: Optional[int] = O(None, "--ppo-mini-batch-size", help="Rollouts per gradient step (quick profile: 2)."),
    ppo_epochs: Optional[int] = O(None, "--ppo-epochs", help="Passes over each PPO batch (quick profile: 2)."),
    ppo_learning_rate: Optional[float] = O(None, "--ppo-learning-rate", help="PPO learning rate (default: 1e-4)."),
    ppo_kl_coef: Optional[float] = O(None, "--ppo-kl-coef", help="KL penalty to the reference policy (default: 0.05)."),
    ppo_max_new_tokens: Optional[int] = O(None, "--ppo-max-new-tokens", help="Tokens per PPO rollout (quick profile: 192)."),
    ppo_temperature: Optional[float] = O(None, "--ppo-temperature", help="PPO rollout temperature (default: 0.8)."),
    lora_r: Optional[int] = O(None, "--lora-r", help="LoRA rank of the policy (quick profile: 8)."),
    device: Optional[str] = O(None, "--device", help="auto, cpu or cuda (default: auto)."),
    executor: str = O("local", "--executor", help="Where the base generator samples and candidates run: local "
                      "or ray (a Ray cluster; pip install 'rrr[ray]'). Not part of the run: --resume takes it too."),
    ray_address: Optional[str] = O(None, "--ray-address", metavar="ADDR", help="The Ray cluster for --executor "
                                   "ray (default: RAY_ADDRESS, else a local instance started for the run)."),
    ray_workers: Optional[int] = O(None, "--ray-workers", help="Sampling workers on Ray, each holding one model "
                                   "(default: one per CPU of the cluster)."),
) -> None:
    """Self-train the reranker: sample, execute, retrain, PPO.

    Each iteration samples, executes, mines pairs and hard negatives, retrains the reranker and runs PPO against it;
    the PPO policy samples the next iteration.

    Training tasks: MBPP train+validation and HumanEval fold A in all eight languages; the report's
    held-out tasks: HumanEval fold B in all eight languages, never trained on.

    Every step's output lands under the cache's runs/<run-id>/ (`rrr models path` shows the cache).
    Ctrl-C stops after the current step; `--resume RUN` continues; `--report RUN` shows the results.

    Examples:

      rrr selftrain --iterations 3 --profile quick --run-id first

      rrr selftrain --resume first

      rrr selftrain --report first

      rrr selftrain --iterations 3 --no-ppo --run-id no-ppo

      rrr selftrain --report first --json
    """
    from rrr_cli import selftrain as st
    from rrr_cli.evaluation.executors import RayOptions, check_executor, executor_for
    from rrr_cli.training import distributed
    from rrr_cli.ui import notice, show

    if distributed.world().distributed:
        # Every process would sample, execute and write the same run; the trainers alone share work.
        raise RrrError("rrr selftrain runs as one process, not under torchrun (torchrun shares "
                       "`rrr train-reranker`'s work; see the README's Scaling out)")
    executor = check_executor(executor)
    if executor != "ray" and (ray_address is not None or ray_workers is not None):
        raise RrrError("--ray-address and --ray-workers go with --executor ray")
    if ray_workers is not None and ray_workers < 1:
        raise RrrError(f"--ray-workers must be at least 1 (got {ray_workers})")
    if report:
        _report(st, st.RunStore(st.find_run(report)), png, as_json, show, notice)
        return
    options = {k: v for k, v in locals().items() if k in st.SelfTrainConfig.__dataclass_fields__ and v is not None}
    if resume:
        if options or run_id:
            raise RrrError("--resume continues a run with its own run.toml; other options cannot change it")
        store = st.RunStore(st.find_run(resume))
        notice(f"resuming run {store.run_id} ({store.root})")
    else:
        store = st.start_run(st.build_config(profile, options), run_id)
        notice(f"run {store.run_id}: {store.root}")
    cluster_options = RayOptions(address=ray_address, workers=ray_workers)
    with st.StopFlag() as stop, executor_for(executor, cluster_options) as cluster:
        try:
            st.SelfTrainLoop(store, say=notice, stop=stop, cluster=cluster).run()
        except KeyboardInterrupt:  # the second Ctrl-C: the step in progress is dropped, finished ones kept
            raise st.Interrupted(f"stopped; finished steps are kept: continue with "
                                 f"`rrr selftrain --resume {store.run_id}`") from None
    _report(st, store, png, as_json, show, notice)


def _report(st, store, png, as_json, show, notice) -> None:
    import json

    from rich.table import Table

    from rrr_cli.evaluation.report import figure_path
    from rrr_cli.ui import write_data

    rows = st.report_rows(store)
    if not rows:
        raise RrrError(f"run {store.run_id} has no finished iteration yet (continue it with --resume {store.run_id})")
    path = figure_path(png or store.root / "report.png")
    if as_json:
        write_data(json.dumps(st.run_summary(store, rows), indent=1) + "\n")
    else:
        first = rows[0]
        table = Table(title=f"rrr selftrain {store.run_id}", caption=(
            f"{first['heldout_tasks']} held-out tasks; base generator: pass@1 {first['base_pass_at_1']:.3f}, oracle "
            f"{first['base_oracle']:.3f}; fallback reranked@1 {first['fallback_reranked_at_1']:.3f}")
            if first.get("base_pass_at_1") is not None else None, caption_justify="left")
        for _, header in st.COLUMNS:
            table.add_column(header, justify="right")
        for row in rows:
            table.add_row(*[st.format_cell(key, row) for key, _ in st.COLUMNS])
        show(table)
        show(st.LEGEND, style="dim")
        stages = list(dict.fromkeys(stage for row in rows for stage in row["stage_seconds"]))
        seconds = Table(title="seconds per stage")
        seconds.add_column("stage")
        for row in rows:
            seconds.add_column(f"iter {row['iteration']}", justify="right")
        for stage in stages:
            seconds.add_row(stage, *[f"{row['stage_seconds'][stage]:.0f}" if stage in row["stage_seconds"] else "—"
                                     for row in rows])
        show(seconds)
    notice(f"chart: {st.render_png(rows, path, f'rrr selftrain {store.run_id}')}")


command.__doc__ = help_text(command.__doc__)
