"""Rendering an eval report: a table shaped like the paper's Table 1 (languages across, an Average
column, rows for pass@k, the oracle and each scorer's reranked@1), as rich, Markdown or a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from rrr_cli.errors import RrrError

BENCHMARK_TITLES = {"mbpp": "MBPP"}


TIMING_KEYS = ("sampling_s", "execution_s")


def results(report: dict[str, Any], keys: tuple[str, ...] = ("settings", "columns", "average", "tasks")) -> dict[str, Any]:
    """The report's figures without the seconds each stage took: what two runs of the same settings
    (local or on Ray, fresh or resumed) must agree on."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not k.startswith(TIMING_KEYS)}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip({key: report[key] for key in keys if key in report})


def title(group: str) -> str:
    """A column's heading: a benchmark's name, or the language's `display_name` from its definition."""
    from rrr_cli.execution.languages import languages

    language = languages().get(group)
    return BENCHMARK_TITLES.get(group) or (language.display_name if language else group)


def _groups(report: dict[str, Any]) -> list[str]:
    """The report's groups as the table's columns: the installed languages in their `report_order` (rrr's
    own in the paper's order, then a plugin's), then the other groups (mbpp, a language not installed
    here) by name."""
    from rrr_cli.execution.languages import languages_in_order

    order = {name: index for index, name in enumerate(languages_in_order())}
    return sorted(report["groups"], key=lambda g: (order.get(g, len(order)), g))


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def rows(report: dict[str, Any]) -> list[tuple[str, list[str], bool]]:
    """(label, cells per group then Average, whether it starts a section) for every row of the table."""
    groups = _groups(report)
    columns = [report["columns"][g] for g in groups] + [report["average"]]
    n = report["settings"]["n"]
    out: list[tuple[str, list[str], bool]] = []
    for k in report["ks"]:
        out.append((f"pass@{k}", [_percent(c[f"pass@{k}"]) for c in columns], False))
    if "greedy" in report["average"]:
        out.append(("greedy pass@1", [_percent(c["greedy"]) for c in columns], False))
    out.append((f"oracle (pass@{n})", [_percent(c["oracle"]) for c in columns], False))
    for index, name in enumerate(report["scorers"]):
        out.append((f"reranked@1: {name}", [_percent(c["reranked@1"][name]) for c in columns], index == 0))
    for index, name in enumerate(report["scorers"]):
        cells = [_percent(c["gap_recovered"][name]) for c in columns]
        out.append((f"gap recovered: {name}", cells, index == 0))
    if any(c.get("sampling_s_per_task") for c in columns):
        # Seconds per task, so a bigger run can be planned from a small one.
        cells = [f"{c['sampling_s_per_task']:.0f}" if c.get("sampling_s_per_task") else "–" for c in columns]
        out.append(("sampling, s/task", cells, True))
        out.append(("execution, s/task", [f"{c['execution_s_per_task']:.1f}" for c in columns], False))
    return out


def headers(report: dict[str, Any]) -> list[str]:
    groups = _groups(report)
    return [f"{title(g)} ({report['columns'][g]['tasks']})" for g in groups] + ["Average"]


def rich_table(report: dict[str, Any]) -> Table:
    settings = report["settings"]
    title = (f"{settings['model']} · n={settings['n']} · T={settings['temperature']:g} · "
             f"{settings['prompt_style']} prompts")
    table = Table(title=title, title_justify="left",
                  caption="% of tasks solved; ties at the top count as a random pick among them",
                  caption_justify="left")
    table.add_column("", no_wrap=True)
    for header in headers(report):
        table.add_column(header, justify="right")
    for label, cells, section in rows(report):
        if section:
            table.add_section()
        table.add_row(label, *cells)
    return table


def markdown(report: dict[str, Any]) -> str:
    head = ["", *headers(report)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join([" --- "] + [" ---: "] * (len(head) - 1)) + "|"]
    for label, cells, _ in rows(report):
        lines.append("| " + " | ".join([label, *cells]) + " |")
    notes = calibration_lines(report) + cascade_lines(report)
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def cascade_lines(report: dict[str, Any]) -> list[str]:
    """The cascade's sweep (`rrr eval --cascade`) as a Markdown table, with what it rests on."""
    cascade = report.get("cascade")
    if not cascade:
        return []

    def seconds(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    lines = [f"cascade to {cascade['model']} where the confidence of {cascade['scorer']}'s pick "
             f"({cascade.get('confidence', 'the shipped model')}) is below a threshold; accuracy: the pick passes "
             "the hidden tests (%, average over languages)", "",
             "| below | escalated | alone | join | replace | s/task alone | s/task cascade |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for point in cascade["sweep"]:
        a = point["average"]
        lines.append(f"| {point['below']:g} | {_percent(a['escalated'])} | {_percent(a['accuracy']['alone'])} | "
                     f"{_percent(a['accuracy']['join'])} | {_percent(a['accuracy']['replace'])} | "
                     f"{seconds(a['seconds_per_task']['alone'])} | {seconds(a['seconds_per_task']['cascade'])} |")
    lines += ["", f"{cascade['model']}: {seconds(cascade['model_seconds_per_task'])} s of sampling per task over the "
              f"{cascade['model_sampled_tasks']} tasks it sampled (about its cost per task alone on every task)"]
    return lines


def calibration_lines(report: dict[str, Any]) -> list[str]:
    """One line per scorer on the calibration of its picks' confidence (`rrr eval --calibration`)."""
    return [f"confidence of {name}'s pick over {c['tasks']} tasks: ECE {c['ece']:.3f} (10 bins); mean "
            f"confidence {c['mean_confidence']:.3f}, accuracy {c['accuracy']:.3f}"
            for name, c in report.get("calibration", {}).items()]


def load_reference(path: str | Path) -> dict[str, Any]:
    """Another run's report.json (as `rrr eval` writes it), checked to hold a greedy pass@1."""
    import json

    path = Path(path)
    try:
        reference = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RrrError(f"--reference {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RrrError(f"--reference {path}: not a report.json from `rrr eval` ({exc})") from None
    if not isinstance(reference, dict) or not all(k in reference for k in ("settings", "columns", "average")):
        raise RrrError(f"--reference {path}: not a report.json from `rrr eval` (no settings, columns, average)")
    reference_values(reference)  # fails now, with the file's name, rather than after the whole run
    return reference


def reference_values(reference: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """(label, greedy pass@1 per group) of a reference report: its --greedy pass, or its
    pass@1 when it sampled at temperature 0 (then every candidate is the greedy one)."""
    settings = reference["settings"]
    if "greedy" in reference["average"]:
        key = "greedy"
    elif float(settings.get("temperature", 1)) == 0:
        key = "pass@1"
    else:
        raise RrrError(f"the --reference report ({settings.get('model')}, T={settings.get('temperature')}) has "
                       "no greedy pass@1: make it with `rrr eval -n 1 -t 0` or `--greedy`")
    per_group = {group: column[key] for group, column in reference["columns"].items()
                 if column.get(key) is not None}
    model = str(settings.get("model") or "reference")
    model = Path(model).stem if ("/" in model or model.endswith(".gguf")) else model
    return f"{model}, greedy pass@1", per_group


def colours(report: dict[str, Any]) -> dict[str, str]:
    """One colour per series, the same in both panels: pass@1 grey, the oracle black, scorers in order."""
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
               "tab:olive", "tab:cyan"]
    out = {"pass@1": "tab:gray", "oracle": "black", "reference": "tab:red"}
    scorer_palette = [c for c in palette if c != out["reference"]]
    for index, name in enumerate(report["scorers"]):
        out[name] = scorer_palette[index % len(scorer_palette)]
    return out


def _reference_cells(reference: dict[str, Any], groups: list[str]) -> tuple[str, list[tuple[int, float]]]:
    """The reference's label and (bar-group index, value) for each group it shares with the report,
    then the Average: the mean over those shared groups, as the report averages its own."""
    label, per_group = reference_values(reference)
    shared = [g for g in groups if g in per_group]
    if not shared:
        raise RrrError(f"the --reference report has none of this run's groups ({', '.join(groups)})")
    cells = [(groups.index(g), per_group[g]) for g in shared]
    cells.append((len(groups), sum(per_group[g] for g in shared) / len(shared)))
    return label, cells


def plot(report: dict[str, Any], path: str | Path, reference: dict[str, Any] | None = None) -> Path:
    """Two panels: reranked@1 per scorer per language (bars), and reranked@1 on average as the number
    of candidates grows from 1 to N (exact expectation over random subsets). Each series has one
    colour in both. `reference`: another run's report, whose greedy pass@1 is drawn as a line on
    both (per language on the left, over the groups it shares with this report on the right)."""
    plt = pyplot("--plot")
    path = figure_path(path)
    groups = _groups(report)
    labels = [title(g) for g in groups] + ["Average"]
    columns = [report["columns"][g] for g in groups] + [report["average"]]
    scorers = report["scorers"]
    n = report["settings"]["n"]
    colour = colours(report)
    reference_label, reference_cells = _reference_cells(reference, groups) if reference else ("", [])
    figure, (bars, curve) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / (len(scorers) + 2)
    series = [("pass@1", [c["pass@1"] for c in columns])]
    series += [(name, [c["reranked@1"][name] for c in columns]) for name in scorers]
    series += [("oracle", [c["oracle"] for c in columns])]
    for index, (name, values) in enumerate(series):
        xs = [i + (index - (len(series) - 1) / 2) * width for i in range(len(columns))]
        bars.bar(xs, [100 * (v or 0) for v in values], width, label=name, color=colour[name])
    if reference_cells:  # a short line across each group's bars, one legend entry
        bars.hlines([100 * value for _, value in reference_cells], [x - 0.45 for x, _ in reference_cells],
                    [x + 0.45 for x, _ in reference_cells], colors=colour["reference"], linestyles="-.",
                    linewidth=2, label=reference_label, zorder=3)
    bars.set_xticks(range(len(columns)), labels, rotation=20)
    bars.set_ylabel("% of tasks solved")
    bars.set_title("reranked@1 per scorer")
    bars.legend(fontsize="small")
    ms = list(range(1, n + 1))
    for name in scorers:
        curve.plot(ms, [100 * (v or 0) for v in report["average"]["curve"][name]], marker="o", label=name,
                   color=colour[name])
    curve.plot(ms, [100 * report["average"]["pass@1"]] * n, linestyle="--", color=colour["pass@1"], label="pass@1")
    if reference_cells:
        curve.axhline(100 * reference_cells[-1][1], linestyle="-.", linewidth=2, color=colour["reference"],
                      label=reference_label)
    curve.set_xlabel("candidates per task")
    curve.set_ylabel("reranked@1, average (%)")
    curve.set_title("reranked@1 as N grows")
    curve.legend(fontsize="small")
    figure.tight_layout()
    return save_figure(figure, path)


def pyplot(flag: str):
    """matplotlib's pyplot on the file-only backend; without matplotlib, one line naming `flag`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RrrError(f"{flag} needs matplotlib (pip install matplotlib)") from None
    return plt


def figure_path(path: str | Path) -> Path:
    """`path` if it names a format a figure is written in (check it before the work that draws it)."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise RrrError(f"{path}: the plot is written as .png, .svg or .pdf")
    return path


def save_figure(figure, path: str | Path) -> Path:
    """Write `figure` to `path` (its folder made), beside it first and then renamed: an interrupted save
    never leaves half a file."""
    import matplotlib.pyplot as plt

    path = figure_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    figure.savefig(tmp, dpi=120)
    plt.close(figure)
    tmp.replace(path)
    return path
