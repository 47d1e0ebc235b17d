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
    profile: str = O("quick", "--profile", help="Defaults for every knob: quick (2-core CPU) or full (GPU)."),
    resume: Optional[str] = O(None, "--resume", metavar="RUN", help="Continue an interrupted run (id or folder)."),
    report: Optional[str] = O(None, "--report", metavar="RUN", help="Print a run's per-iteration report and write its PNG."),
    png: Optional[Path] = O(None, "--png", help="Where --report writes the chart (default: RUN/report.png)."),
    run_id: Optional[str] = O(None, "--run-id", help="Name of a new run (default: a timestamp)."),
    tasks: Optional[List[str]] = O(None, "--tasks", help="Training task source(s) (default: mbpp)."),
    split: Optional[str] = O(None, "--split", help="Split of the training source (default: train+validation)."),
    train_tasks: Optional[int] = O(None, "--train-tasks", help="How many training tasks, 0 = all (quick profile: 64)."),
    heldout: Optional[List[str]] = O(None, "--heldout", help="Held-out task source(s) for the report (default: mbpp)."),
    heldout_split: Optional[str] = O(None, "--heldout-split", help="Split of the held-out source (default: test)."),
    heldout_tasks: Optional[int] = O(None, "--heldout-tasks", help="How many held-out tasks, 0 = all (quick profile: 16)."),
    generator: Optional[str] = O(None, "--generator", "-m", help="Base generator: catalog name, GGUF or HF folder."),
    backend: Optional[str] = O(None, "--backend", help="Backend for the base generator (default: auto)."),
    n: Optional[int] = O(None, "-n", "--n", help="Candidates per task (quick profile: 8)."),
    temperature: Optional[float] = O(None, "--temperature", help="Sampling temperature (default: 0.8)."),
    top_p: Optional[float] = O(None, "--top-p", help="Nucleus sampling (default: 0.95)."),
    max_tokens: Optional[int] = O(None, "--max-tokens", help="Tokens per candidate (quick profile: 384)."),
    prompt_style: Optional[str] = O(None, "--prompt-style", help="auto, chat or completion (default: auto: chat for Python, completion elsewhere)."),
    seed: Optional[int] = O(None, "--seed", help="Run seed (default: 0)."),
    exec_timeout_s: Optional[float] = O(None, "--exec-timeout", help="Seconds per program (default: 10)."),
    reranker_base: Optional[str] = O(None, "--reranker-base", help="Reward model base weights (default: the generator)."),
    hard_negative_top_k: Optional[int] = O(None, "--hard-negative-top-k", help="Failing candidates in the top k are hard negatives (default: 1)."),
    rm_epochs: Optional[int] = O(None, "--rm-epochs", help="Reranker epochs per iteration (quick profile: 1)."),
    rm_learning_rate: Optional[float] = O(None, "--rm-learning-rate", help="Reranker learning rate (default: 1e-4)."),
    rm_batch_size: Optional[int] = O(None, "--rm-batch-size", help="Reranker pairs per step (quick profile: 8)."),
    rm_max_length: Optional[int] = O(None, "--rm-max-length", help="Reranker tokens per text (quick profile: 768)."),
    rm_max_pairs: Optional[int] = O(None, "--rm-max-pairs", help="Pairs per reranker training, 0 = all (quick profile: 256)."),
    no_ppo: Optional[bool] = O(None, "--no-ppo/--ppo", help="Ablation: sample from the base generator every iteration."),
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

    Every step's output lands under the cache's runs/<run-id>/ (`rrr models path` shows the cache).
    Ctrl-C stops after the current step; `--resume RUN` continues; `--report RUN` shows the results.

    Examples:

      rrr selftrain --iterations 3 --profile quick --run-id first

      rrr selftrain --resume first

      rrr selftrain --report first

      rrr selftrain --iterations 2 --no-ppo --train-tasks 32
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
        _report(st, st.RunStore(st.find_run(report)), png, show, notice)
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
    _report(st, store, png, show, notice)


def _report(st, store, png, show, notice) -> None:
    from rich.table import Table

    rows = st.report_rows(store)
    if not rows:
        raise RrrError(f"run {store.run_id} has no finished iteration yet (continue it with --resume {store.run_id})")
    table = Table(title=f"rrr selftrain {store.run_id}")
    for _, header in st.COLUMNS:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*[st.format_cell(key, row) for key, _ in st.COLUMNS])
    show(table)
    show(st.LEGEND, style="dim")
    path = st.render_png(rows, png or store.root / "report.png", f"rrr selftrain {store.run_id}")
    notice(f"chart: {path}")


command.__doc__ = help_text(command.__doc__)
