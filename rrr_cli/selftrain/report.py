"""The report of a run: one row per finished iteration (held-out reranker quality, pairs mined, PPO
reward and KL, stage times), as rows for a table and as a PNG chart."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rrr_cli.atomic import atomic_write_bytes
from rrr_cli.selftrain.store import RunStore

COLUMNS = [
    ("iteration", "iter"),
    ("reranked_at_1", "R@1"),
    ("pairwise_accuracy", "pair acc"),
    ("pass_at_1", "pass@1"),
    ("oracle", "oracle"),
    ("train_pass_rate", "train pass"),
    ("standard_pairs", "std pairs"),
    ("hard_negatives", "hard neg"),
    ("pairs_total", "all pairs"),
    ("ppo_reward", "PPO reward"),
    ("ppo_kl", "PPO KL"),
    ("minutes", "min"),
]
LEGEND = ("R@1, pair acc, pass@1, oracle: the new reranker on the held-out tasks' candidates; train pass: "
          "share of this iteration's samples that passed; std pairs / hard neg: pairs new in this iteration "
          "(hard negatives found, counting re-found ones, in brackets); PPO reward: first→last step; "
          "min: minutes the iteration's steps took.")


def report_rows(store: RunStore) -> list[dict[str, Any]]:
    """One flat row per iteration whose metrics.json exists, in iteration order."""
    rows = []
    timings = store.timings()
    iteration = 1
    while (store.iter_dir(iteration) / "metrics.json").exists():
        m = store.read_json(store.iter_dir(iteration) / "metrics.json")
        ev = m.get("eval") or {}
        ppo = m.get("ppo") or {}
        stage_times = timings.get(str(iteration), {})
        rows.append({
            "iteration": iteration,
            "reranked_at_1": ev.get("reranked_at_1"),
            "pairwise_accuracy": ev.get("pairwise_accuracy"),
            "pass_at_1": ev.get("pass_at_1"),
            "oracle": ev.get("oracle"),
            "train_pass_rate": m.get("train_pass_rate"),
            "standard_pairs": m.get("standard_pairs"),
            "hard_negatives": m.get("hard_negatives"),
            "hard_negatives_found": m.get("hard_negatives_found"),
            "pairs_total": m.get("pairs_total"),
            "ppo_reward_first": ppo.get("reward_first"),
            "ppo_reward_last": ppo.get("reward_last"),
            "ppo_kl": ppo.get("kl_last"),
            "stage_seconds": stage_times,
            "minutes": sum(stage_times.values()) / 60 if stage_times else None,
        })
        iteration += 1
    return rows


def format_cell(key: str, row: dict[str, Any]) -> str:
    if key == "ppo_reward":
        first, last = row.get("ppo_reward_first"), row.get("ppo_reward_last")
        return "—" if first is None else f"{first:.3f}→{last:.3f}"
    value = row.get(key)
    if key == "hard_negatives" and value is not None and row.get("hard_negatives_found") is not None:
        return f"{value} ({row['hard_negatives_found']})"
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if key != "minutes" else f"{value:.1f}"
    return str(value)


def render_png(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """A 3-panel chart: held-out reranker quality, pairs mined, PPO reward and KL, per iteration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    its = [r["iteration"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    for key, label in (("reranked_at_1", "reranked@1"), ("pairwise_accuracy", "pairwise accuracy"),
                       ("pass_at_1", "pass@1 (no reranker)")):
        ys = [r[key] if r[key] is not None else float("nan") for r in rows]
        ax.plot(its, ys, marker="o", label=label)
    ax.set_title("held-out tasks")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax = axes[1]
    std = [r["standard_pairs"] or 0 for r in rows]
    hard = [r["hard_negatives"] or 0 for r in rows]
    ax.bar(its, std, label="standard")
    ax.bar(its, hard, bottom=std, label="hard negatives")
    ax.set_title("pairs mined")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(its, [r["ppo_reward_last"] if r["ppo_reward_last"] is not None else float("nan") for r in rows],
            marker="o", label="reward (last step)")
    ax.set_title("PPO")
    twin = ax.twinx()
    twin.plot(its, [r["ppo_kl"] if r["ppo_kl"] is not None else float("nan") for r in rows],
              marker="s", color="tab:red", label="KL")
    twin.set_ylabel("KL to reference")
    ax.legend(fontsize=8, loc="upper left")
    twin.legend(fontsize=8, loc="upper right")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.set_xticks(its)
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path
