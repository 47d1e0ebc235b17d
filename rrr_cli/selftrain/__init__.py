"""Iterative self-training (RewardRanker): sample, execute, score, mine pairs with hard negatives,
retrain the reranker, train a fresh PPO policy against it; every step a resumable artifact under
`runs/<run-id>/`.

    start_run(config, run_id) -> RunStore      a new run folder with its run.toml
    SelfTrainLoop(store, say).run()            run or resume every unfinished step
    report_rows(store), render_png(rows, path) the per-iteration report (run_summary: its JSON)
"""

from rrr_cli.selftrain.loop import Interrupted, SelfTrainLoop, StopFlag
from rrr_cli.selftrain.report import COLUMNS, LEGEND, format_cell, render_png, report_rows, run_summary
from rrr_cli.selftrain.settings import PROFILES, QUICK_SIZING, SelfTrainConfig, build_config
from rrr_cli.selftrain.store import RunStore, find_run


def start_run(config: SelfTrainConfig, run_id: str | None = None) -> RunStore:
    """Create the run folder and its run.toml (the run's fixed parameters)."""
    return RunStore.create(config.validate(), run_id)


__all__ = ["SelfTrainConfig", "PROFILES", "build_config", "RunStore", "find_run", "start_run", "SelfTrainLoop",
           "StopFlag", "Interrupted", "report_rows", "run_summary", "render_png", "format_cell", "COLUMNS", "LEGEND",
           "QUICK_SIZING"]
