"""Did self-training help? The held-out figures of each iteration, computed with `rrr eval`'s code
(`evaluation.runs.build_report`: pass@k, the oracle, reranked@1 with ties as a random pick among the
tied, per language and averaged over languages) and paired 95% bootstrap intervals (`metrics.
paired_bootstrap`, tasks resampled within each language, as `benchmarks/scorer_comparison.py`); then
one report row per finished iteration, as a table, JSON and a PNG chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from rrr_cli.records import Candidate, ScoredCandidate, Task, Verdict
from rrr_cli.selftrain.settings import SelfTrainConfig
from rrr_cli.selftrain.store import RunStore

Labelled = tuple[Sequence[Candidate], Sequence[Verdict]]


def _settings(config: SelfTrainConfig, n: int):
    from rrr_cli.evaluation.runs import EvalSettings

    return EvalSettings(model=config.generator or "default", backend=config.backend, n=n,
                        temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens,
                        seed=config.seed, prompt_style=config.prompt_style)


def held_out_report(tasks: Sequence[Task], labelled: Labelled, scores: dict[str, Sequence[ScoredCandidate]],
                    config: SelfTrainConfig, n: int, ks: Sequence[int]) -> dict[str, Any]:
    """`rrr eval`'s report of these candidates, verdicts and scorers' scores (each in candidate order)."""
    from rrr_cli.evaluation.runs import build_report

    candidates, verdicts = labelled
    verdict_of = {(v.task_id, v.sample_id): v for v in verdicts}
    by_task: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_task.setdefault(candidate.task_id, []).append(candidate)
    kept = [t for t in tasks if t.task_id in by_task]
    verdict_rows = {t.task_id: [verdict_of[(c.task_id, c.sample_id)] for c in by_task[t.task_id]] for t in kept}
    score_rows = {}
    for name, scored in scores.items():
        value = {(c.task_id, c.sample_id): c.score for c in scored}
        score_rows[name] = {t.task_id: [{"score": value[c.key]} for c in by_task[t.task_id]] for t in kept}
    return build_report(kept, _settings(config, n), verdict_rows, score_rows, ks=ks)


def paired(rows_a: Sequence[dict], rows_b: Sequence[dict], a: Callable[[dict], float],
           b: Callable[[dict], float]) -> dict[str, Any]:
    """mean(a) - mean(b) over the tasks both report rows hold, averaged over languages, with its paired
    95% interval (the same resampled tasks for both sides)."""
    from rrr_cli.metrics import paired_bootstrap

    other = {row["task_id"]: row for row in rows_b}
    left: dict[str, list[float]] = {}
    right: dict[str, list[float]] = {}
    for row in rows_a:
        if row["task_id"] in other:
            left.setdefault(row["group"], []).append(a(row))
            right.setdefault(row["group"], []).append(b(other[row["task_id"]]))
    difference, low, high = paired_bootstrap(left, right)
    return {"difference": difference, "ci95": [low, high], "tasks": sum(len(v) for v in left.values())}


def evaluate_base(tasks: Sequence[Task], candidates: Sequence[Candidate], verdicts: Sequence[Verdict],
                  scores: dict[str, Sequence[ScoredCandidate]], config: SelfTrainConfig) -> dict[str, Any]:
    """The iteration's reranker on the base generator's held-out candidates: reranked@1 per language and
    on average, next to the fallback scorer and the previous iteration's reranker (`scores` names them
    reranker, fallback and previous), with paired intervals against both."""
    report = held_out_report(tasks, (candidates, verdicts), scores, config, config.n, [1])
    rows, average = report["tasks"], report["average"]

    def r1(name: str):
        return lambda row: row["reranked@1"][name]

    result: dict[str, Any] = {
        "heldout_tasks": average["tasks"],
        "pass_at_1": average["pass@1"], "oracle": average["oracle"],
        "reranked_at_1": average["reranked@1"]["reranker"],
        "fallback_reranked_at_1": average["reranked@1"]["fallback"],
        "versus_fallback": paired(rows, rows, r1("reranker"), r1("fallback")),
        "per_language": {group: {"tasks": column["tasks"], "pass_at_1": column["pass@1"], "oracle": column["oracle"],
                                 "reranked_at_1": column["reranked@1"]}
                         for group, column in report["columns"].items()},
    }
    if "previous" in scores:
        result["previous_reranked_at_1"] = average["reranked@1"]["previous"]
        result["versus_previous"] = paired(rows, rows, r1("reranker"), r1("previous"))
    return result


def evaluate_policy(tasks: Sequence[Task], base: Labelled, policy: Labelled, base_scores: Sequence[ScoredCandidate],
                    policy_scores: Sequence[ScoredCandidate], config: SelfTrainConfig) -> dict[str, Any]:
    """The iteration's PPO policy on fresh held-out samples (k per task) next to the base generator's:
    pass@1; the oracle of k (the base's pass@k, unbiased from its N); the reranker's pick among the k
    (the paper's deployed pair; the base's expected reranked@1 among k of its N, exactly), each with
    its paired 95% interval, policy minus base."""
    k, n = config.heldout_policy_n, config.n
    m = min(k, n)
    base_report = held_out_report(tasks, base, {"reranker": base_scores}, config, n, sorted({1, m}))
    policy_report = held_out_report(tasks, policy, {"reranker": policy_scores}, config, k, [1])
    base_rows, policy_rows = base_report["tasks"], policy_report["tasks"]

    def base_oracle(row: dict) -> float:
        return row["oracle"] if m == n else row[f"pass@{m}"]

    def base_pick(row: dict) -> float:
        return row["curve"]["reranker"][m - 1]

    def mean_by_language(rows: Sequence[dict], value: Callable[[dict], float]) -> float:
        from rrr_cli.metrics import mean

        groups: dict[str, list[float]] = {}
        for row in rows:
            groups.setdefault(row["group"], []).append(value(row))
        return mean([mean(values) for values in groups.values()])

    average = policy_report["average"]
    return {
        "candidates_per_task": k,
        "policy": {"pass_at_1": average["pass@1"], "oracle": average["oracle"],
                   "reranked_at_1": average["reranked@1"]["reranker"]},
        "base": {"pass_at_1": base_report["average"]["pass@1"], "oracle": mean_by_language(base_rows, base_oracle),
                 "reranked_at_1": mean_by_language(base_rows, base_pick)},
        "pass_at_1_difference": paired(policy_rows, base_rows, lambda r: r["pass@1"], lambda r: r["pass@1"]),
        "oracle_difference": paired(policy_rows, base_rows, lambda r: r["oracle"], base_oracle),
        "reranked_at_1_difference": paired(policy_rows, base_rows, lambda r: r["reranked@1"]["reranker"], base_pick),
    }


# --- the report ------------------------------------------------------------------------------------

# An iteration's steps in the order they run (`SelfTrainLoop.iteration`): the seconds-per-stage order.
STAGES = ("sample", "execute", "evidence", "score", "mine pairs", "train reranker", "score held-out", "evaluate",
          "PPO", "policy: sample held-out", "policy: execute held-out", "policy: score held-out", "metrics")

COLUMNS = [
    ("iteration", "iter"),
    ("reranked_at_1", "R@1"),
    ("versus_previous", "− previous [95%]"),
    ("versus_fallback", "− fallback [95%]"),
    ("policy_pass_at_1", "policy pass@1 (base)"),
    ("policy_oracle", "policy oracle@k (base)"),
    ("policy_reranked_at_1", "policy R@1 (base)"),
    ("standard_pairs", "std pairs"),
    ("hard_negatives", "hard-neg pairs"),
    ("hard_negatives_found", "hard negs (past exec)"),
    ("ppo_reward", "PPO reward"),
    ("ppo_kl", "PPO KL"),
    ("minutes", "min"),
]
LEGEND = ("Held-out tasks (never trained on). R@1: reranked@1 of the iteration's reranker on the base generator's "
          "candidates; − previous / − fallback: its paired difference from the previous iteration's reranker and "
          "from the fallback scorer (public examples + mean log-prob), 95% bootstrap interval. policy …: the "
          "iteration's PPO policy on k fresh samples per task, the base generator's figure for k of its candidates "
          "in brackets (oracle@k: some candidate passes; R@1: the reranker's pick among them). std / hard-neg pairs: "
          "pairs new this iteration; hard negs: failing candidates the previous reranker ranked at or above the best "
          "passing one, in brackets those passing the prompt's examples in the biggest behaviour group. min: the "
          "iteration's minutes (seconds per stage in --json).")


def report_rows(store: RunStore) -> list[dict[str, Any]]:
    """One flat row per iteration whose metrics.json exists, in iteration order."""
    rows = []
    timings = store.timings()
    iteration = 1
    while (store.iter_dir(iteration) / "metrics.json").exists():
        m = store.read_json(store.iter_dir(iteration) / "metrics.json")
        ev = m.get("eval") or {}
        policy = m.get("policy_eval") or {}
        ppo = m.get("ppo") or {}
        stage_seconds = dict(sorted(timings.get(str(iteration), {}).items(),
                                    key=lambda item: STAGES.index(item[0]) if item[0] in STAGES else len(STAGES)))
        row = {
            "iteration": iteration,
            "sampled_by": m.get("sampled_by"),
            "reranked_at_1": ev.get("reranked_at_1"),
            "fallback_reranked_at_1": ev.get("fallback_reranked_at_1"),
            "previous_reranked_at_1": ev.get("previous_reranked_at_1"),
            "versus_previous": ev.get("versus_previous"),
            "versus_fallback": ev.get("versus_fallback"),
            "base_pass_at_1": ev.get("pass_at_1"),
            "base_oracle": ev.get("oracle"),
            "heldout_tasks": ev.get("heldout_tasks"),
            "per_language": ev.get("per_language"),
            "policy_eval": policy or None,
            "train_pass_rate": m.get("train_pass_rate"),
            "standard_pairs": m.get("standard_pairs"),
            "hard_negatives": m.get("hard_negatives"),
            "hard_negatives_found": m.get("hard_negatives_found"),
            "hard_negatives_past_execution": m.get("hard_negatives_past_execution"),
            "pairs_total": m.get("pairs_total"),
            "pairs_by_kind": m.get("pairs_by_kind"),
            "ppo_reward_first": ppo.get("reward_first"),
            "ppo_reward_last": ppo.get("reward_last"),
            "ppo_kl": ppo.get("kl_last"),
            "stage_seconds": stage_seconds,
            "minutes": sum(stage_seconds.values()) / 60 if stage_seconds else None,
        }
        for key in ("pass_at_1", "oracle", "reranked_at_1"):
            row[f"policy_{key}"] = (policy["policy"][key], policy["base"][key]) if policy else None
        rows.append(row)
        iteration += 1
    return rows


def run_summary(store: RunStore, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What `--report RUN --json` prints: the run's settings, the once-per-run stages' seconds and the rows."""
    timings = store.timings()
    return {"run": store.run_id, "settings": store.config().to_dict(),
            "setup_seconds": {f"{key} · {stage}": seconds for key, stages in timings.items() if not key.isdigit()
                              for stage, seconds in stages.items()},
            "iterations": rows}


def _interval(value: dict | None) -> str:
    if not value:
        return "—"
    low, high = value["ci95"]
    return f"{value['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"


def format_cell(key: str, row: dict[str, Any]) -> str:
    if key == "ppo_reward":
        first, last = row.get("ppo_reward_first"), row.get("ppo_reward_last")
        return "—" if first is None else f"{first:.3f}→{last:.3f}"
    if key in ("versus_previous", "versus_fallback"):
        return _interval(row.get(key))
    value = row.get(key)
    if key.startswith("policy_") and value is not None:
        return f"{value[0]:.3f} ({value[1]:.3f})"
    if key == "hard_negatives_found" and value is not None:
        return f"{value} ({row.get('hard_negatives_past_execution') or 0})"
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if key != "minutes" else f"{value:.1f}"
    return str(value)


def render_png(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Four panels per iteration: the reranker on the base generator's held-out candidates (with its
    interval against the fallback), the PPO policy against the base generator, pairs and hard negatives
    mined, PPO reward and KL. Written beside and renamed (`evaluation.report.save_figure`)."""
    from rrr_cli.evaluation.report import pyplot, save_figure

    plt = pyplot("--report's chart")
    nan = float("nan")
    its = [r["iteration"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    ax = axes[0]
    r1 = [r["reranked_at_1"] if r["reranked_at_1"] is not None else nan for r in rows]
    fallback = [r["fallback_reranked_at_1"] if r["fallback_reranked_at_1"] is not None else nan for r in rows]
    # The interval against the fallback, drawn around the reranker's own value.
    low = [v - (f + r["versus_fallback"]["ci95"][0]) if r.get("versus_fallback") else 0 for v, f, r in zip(r1, fallback, rows)]
    high = [(f + r["versus_fallback"]["ci95"][1]) - v if r.get("versus_fallback") else 0 for v, f, r in zip(r1, fallback, rows)]
    ax.errorbar(its, r1, yerr=[low, high], marker="o", capsize=4, label="reranker (95% vs fallback)")
    ax.plot(its, fallback, linestyle="--", label="fallback")
    ax.plot(its, [r["base_pass_at_1"] if r["base_pass_at_1"] is not None else nan for r in rows], linestyle=":",
            label="pass@1")
    ax.plot(its, [r["base_oracle"] if r["base_oracle"] is not None else nan for r in rows], linestyle="-.",
            label="oracle")
    ax.set_title("held-out: base generator's candidates")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax = axes[1]
    for key, label in (("policy_pass_at_1", "pass@1"), ("policy_oracle", "oracle@k"), ("policy_reranked_at_1", "R@1")):
        line = ax.plot(its, [r[key][0] if r[key] else nan for r in rows], marker="o", label=f"policy {label}")
        ax.plot(its, [r[key][1] if r[key] else nan for r in rows], linestyle="--", color=line[0].get_color(),
                label=f"base {label}")
    ax.set_title("held-out: PPO policy vs base (k samples)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax = axes[2]
    std = [r["standard_pairs"] or 0 for r in rows]
    hard = [r["hard_negatives"] or 0 for r in rows]
    ax.bar(its, std, label="standard pairs")
    ax.bar(its, hard, bottom=std, label="hard-negative pairs")
    twin = ax.twinx()
    twin.plot(its, [r["hard_negatives_found"] or 0 for r in rows], marker="o", color="tab:red", label="hard negatives")
    twin.plot(its, [r["hard_negatives_past_execution"] or 0 for r in rows], marker="s", color="tab:purple",
              label="… past examples + consensus")
    ax.set_title("pairs and hard negatives mined")
    ax.legend(fontsize=7, loc="upper left")
    twin.legend(fontsize=7, loc="upper right")
    ax = axes[3]
    ax.plot(its, [r["ppo_reward_last"] if r["ppo_reward_last"] is not None else nan for r in rows],
            marker="o", label="reward (last step)")
    ax.set_title("PPO")
    twin = ax.twinx()
    twin.plot(its, [r["ppo_kl"] if r["ppo_kl"] is not None else nan for r in rows], marker="s", color="tab:red", label="KL")
    twin.set_ylabel("KL to reference")
    ax.legend(fontsize=7, loc="upper left")
    twin.legend(fontsize=7, loc="upper right")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.set_xticks(its)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
