"""`rrr train-reranker`: train a reward model on executed candidates (or a pair file) and save it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rrr_cli.errors import RrrError
from rrr_cli.ui import help_text, notice, progress


def command(
    candidates: Optional[Path] = typer.Argument(None, help="Candidate JSONL (from `rrr sample`)."),
    verdicts: Optional[Path] = typer.Argument(None, help="Their verdicts JSONL (from `rrr exec`)."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", help="Train on this pair JSONL instead of "
                                         "candidates + verdicts."),
    name: Optional[str] = typer.Option(None, "--name", help="Reranker name (default: reranker-DATE-TIME)."),
    base_model: Optional[str] = typer.Option(None, "--base-model", help="Catalog name, GGUF file or HF "
                                             "directory (default: models.default)."),
    epochs: int = typer.Option(3, "--epochs", help="Passes over the training pairs (head only: "
                               "100 full-batch steps each)."),
    trainable_layers: int = typer.Option(0, "--trainable-layers", help="Top decoder layers with LoRA "
                                         "(the rest is frozen and its output cached); 0 = train the head only."),
    projection: int = typer.Option(16, "--projection", help="The head reads this many principal components "
                                   "of the pooled state (0 = the whole state, a plain linear head)."),
    confidence: bool = typer.Option(True, "--confidence/--no-confidence", help="The head also reads the "
                                    "generator's log-probs of each candidate."),
    features: Optional[str] = typer.Option(None, "--features", help="exec: the head also reads what running "
                                           "each candidate showed (examples passed, builds, its behaviour group "
                                           "on probes; needs CANDIDATES VERDICTS); text: the paper's reward model, "
                                           "text and log-probs only (default: exec, text with --pairs)."),
    states: str = typer.Option("auto", "--states", help="Where the head's pooled states come from: llama.cpp "
                               "(the GGUF model as it samples; `rrr solve` then loads no second model), trunk "
                               "(the torch decoder; needed for --trainable-layers), none (no text read: log-probs "
                               "and execution evidence alone), or auto: llama.cpp for a GGUF base with the head "
                               "alone on a CPU, else trunk."),
    examples_first: bool = typer.Option(False, "--examples-first", help="With --features exec: a candidate that "
                                        "passes more of the prompt's examples always ranks higher; the head learns "
                                        "the order among those that pass as many (trained on such pairs only)."),
    max_length: int = typer.Option(512, "--max-length", help="Most tokens of prompt + completion."),
    batch_size: int = typer.Option(16, "--batch-size", help="Pairs per optimiser step."),
    learning_rate: float = typer.Option(2e-4, "--learning-rate", help="LoRA learning rate."),
    max_pairs_per_task: int = typer.Option(16, "--max-pairs-per-task", help="Cap on pairs from one task."),
    validation_fraction: float = typer.Option(0.1, "--validation-fraction", help="Share of tasks held out."),
    seed: int = typer.Option(0, "--seed", help="Seed for the split, the pair cap and initialisation."),
    save_pairs: Optional[Path] = typer.Option(None, "--save-pairs", help="Also write the pairs used (JSONL)."),
    folds: int = typer.Option(1, "--folds", help="K >= 2: train one reranker per fold of the tasks (by problem "
                              "number, so a problem stays in one fold in every language), each compared with the "
                              "fallback on the fold it never saw; `rrr eval --reranker NAME` then scores every "
                              "task out of fold."),
    final: Optional[str] = typer.Option(None, "--final", help="With --folds: also train one reranker on every "
                                        "task under this name; it carries the folds' out-of-fold comparison with "
                                        "the fallback (so it is the default only if they won)."),
) -> None:
    """Train a reranker (Bradley-Terry loss) and save it.

    On executed candidates (CANDIDATES VERDICTS) or a pair file; saved under the cache's rerankers/ and
    its directory printed. Started by torchrun (`torchrun --nproc_per_node 2 -m rrr_cli train-reranker
    ...`), the processes share the work.

    Examples:

      rrr train-reranker candidates.jsonl verdicts.jsonl --name mbpp

      rrr train-reranker --pairs pairs.jsonl --epochs 3

      rrr train-reranker cands.jsonl verdicts.jsonl --features text
    """
    from rrr_cli.records import Candidate, Pair, Verdict, read_records, write_records
    from rrr_cli.training import distributed
    from rrr_cli.training.pairs import build_pairs, labelled_tasks, split_by_task
    from rrr_cli.training.train_reward import RewardTrainingConfig, resolve_states

    if final is not None and folds < 2:
        raise RrrError("--final needs --folds K (its record is the folds' out-of-fold comparison)")
    features = features or ("text" if pairs is not None else "exec")
    if features not in ("exec", "text"):
        raise RrrError(f"--features must be exec or text (got {features!r})")
    if examples_first and features != "exec":
        raise RrrError("--examples-first needs --features exec (it orders by the examples the candidates pass)")
    config = RewardTrainingConfig(model_name_or_path=base_model, num_train_epochs=epochs,
                                  trainable_layers=trainable_layers, projection=projection,
                                  confidence=confidence, max_length=max_length,
                                  per_device_train_batch_size=batch_size, learning_rate=learning_rate,
                                  validation_fraction=validation_fraction, seed=seed,
                                  states=resolve_states(states, base_model, trainable_layers),
                                  examples_first=examples_first)
    config.check()
    val_tasks = None
    evidence = None
    if pairs is not None:
        if candidates is not None or verdicts is not None:
            raise RrrError("give either CANDIDATES VERDICTS or --pairs, not both")
        if features == "exec":
            raise RrrError("--features exec runs the candidates: give CANDIDATES VERDICTS, or use --features text "
                           "with --pairs")
        training = list(read_records(pairs, Pair))
        data = {"pairs_file": str(pairs)}
    else:
        if candidates is None or verdicts is None:
            raise RrrError("give CANDIDATES and VERDICTS files (or --pairs FILE)")
        cands = list(read_records(candidates, Candidate))
        verdict_list = list(read_records(verdicts, Verdict))
        training = build_pairs(cands, verdict_list, max_per_task=max_pairs_per_task, seed=seed)
        # Validation keeps every labelled candidate of the held-out tasks, for a faithful reranked@1.
        _, val_tasks = split_by_task(labelled_tasks(cands, verdict_list), validation_fraction, seed)
        data = {"candidates_file": str(candidates), "verdicts_file": str(verdicts), "candidates": len(cands)}
        if features == "exec":
            evidence, config.evidence_probes = _evidence_table(cands)
            config.evidence_inputs = len(next(iter(evidence.values()))) if evidence else 0
    main = distributed.world().main  # under torchrun, rank 0 alone writes and reports
    if save_pairs is not None and main:
        write_records(save_pairs, training)
    if folds > 1:
        if pairs is not None:
            raise RrrError("--folds needs CANDIDATES VERDICTS (each fold is compared on the candidates it never saw)")
        directory = _train_folds(folds, training, config, name, data, evidence, cands, verdict_list, seed, main,
                                 every=final)
        if main:
            print(directory)
        return
    if folds < 1:
        raise RrrError(f"--folds must be at least 1 (got {folds})")

    if main:
        notice(f"training on {len(training)} pairs from {len({p.task_id for p in training})} tasks")
    result, directory = _train(training, config, name, val_tasks, data, evidence, main)
    if main and val_tasks:
        _record_versus_fallback(directory, _versus_fallback(result.model, cands, verdict_list,
                                                            {t.task_id for t in val_tasks}))
    if main:
        print(directory)


def _train(training, config, name, val_tasks, data, evidence, main):
    from rrr_cli.training.train_reward import train_and_save

    with progress(disable=None if main else True) as bar:
        jobs: dict[str, int] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in jobs:
                jobs[stage] = bar.add_task(stage, total=total)
            bar.update(jobs[stage], completed=done, total=total)

        return train_and_save(training, config, name=name, val_tasks=val_tasks, training_data=data, log=notice,
                              progress=advance, evidence=evidence)


def _train_folds(folds, training, config, name, data, evidence, candidates, verdicts, seed, main,
                 every: str | None = None) -> Path:
    """One reranker per fold, trained on the other folds' tasks and compared with the fallback on its
    own; and a folds manifest under NAME that `rrr eval --reranker NAME` scores out of fold with."""
    import json

    from rrr_cli.atomic import atomic_write_text
    from rrr_cli.tasks.folds import fold_of
    from rrr_cli.training.pairs import labelled_tasks, split_by_task
    from rrr_cli.reranker import MANIFEST, new_reranker_name, rerankers_dir

    name = name or new_reranker_name()
    members = []
    out_of_fold: dict[str, dict[str, list[float]]] = {"reranker": {}, "fallback": {}}
    for fold in range(folds):
        kept = [pair for pair in training if fold_of(pair.task_id, folds) != fold]
        held_out = {c.task_id for c in candidates if fold_of(c.task_id, folds) == fold}
        inside = [c for c in candidates if c.task_id not in held_out]
        _, val_tasks = split_by_task(labelled_tasks(inside, verdicts), config.validation_fraction, seed)
        if main:
            notice(f"fold {fold + 1}/{folds}: training on {len(kept)} pairs from {len({p.task_id for p in kept})} "
                   f"tasks; {len(held_out)} tasks held out")
        member = f"{name}-fold{fold}"
        result, directory = _train(kept, config, member, val_tasks,
                                   {**data, "fold": {"k": folds, "held_out": fold}}, evidence, main)
        if main:
            values = _versus_fallback(result.model, candidates, verdicts, held_out)
            _record_versus_fallback(directory, values)
            for side in out_of_fold:
                for language, rows in values[side].items():
                    out_of_fold[side].setdefault(language, []).extend(rows)
        members.append(member)
    directory = rerankers_dir() / name
    how = f"out of fold ({folds} folds by problem number)"
    if main:
        manifest = {"kind": "folds", "folds": folds, "members": members, "fold_rule": "problem number % folds",
                    "training_data": data}
        atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        _record_versus_fallback(directory, out_of_fold, how)
    if every:
        if main:
            notice(f"training {every} on every task ({len(training)} pairs); its record is the folds' comparison")
        _, val_tasks = split_by_task(labelled_tasks(candidates, verdicts), config.validation_fraction, seed)
        _, final = _train(training, config, every, val_tasks, {**data, "folds_run": name}, evidence, main)
        if main:
            _record_versus_fallback(final, out_of_fold, how + f", each fold's reranker trained as {every} on the others")
    return directory


def _versus_fallback(model, candidates, verdicts, held_out: set[str]) -> dict[str, dict[str, list[float]]]:
    """Reranked@1 of `model` and of the fallback (public examples + mean log-prob) on each held-out
    task with verdicts: {"reranker"|"fallback": {language: [per task]}}, the same tasks in both."""
    from rrr_cli.metrics import reranked_at_1
    from rrr_cli.ranking.rerank import FALLBACK_SCORER, task_of
    from rrr_cli.ranking.reward import RewardModelScorer
    from rrr_cli.ranking.base import score_many
    from rrr_cli.ranking.registry import get_scorer

    passed = {(v.task_id, v.sample_id): v.passed for v in verdicts}
    by_task: dict[str, list] = {}
    for candidate in candidates:
        if candidate.task_id in held_out and (candidate.task_id, candidate.sample_id) in passed:
            by_task.setdefault(candidate.task_id, []).append(candidate)
    groups = [(task_of(members[0]), members) for members in by_task.values()]
    values: dict[str, dict[str, list[float]]] = {"reranker": {}, "fallback": {}}
    for name, scorer in (("reranker", RewardModelScorer(model)), ("fallback", get_scorer(FALLBACK_SCORER))):
        for (task, members), scores in zip(groups, score_many(scorer, groups) if groups else []):
            right = reranked_at_1(list(scores), [passed[(c.task_id, c.sample_id)] for c in members])
            values[name].setdefault(task.language, []).append(right)
    return values


def _record_versus_fallback(directory: Path, values: dict[str, dict[str, list[float]]], how: str = "") -> None:
    """Print the comparison `_versus_fallback` measured and record it in the manifest (`versus_fallback`):
    the reranker becomes the default of solve/rerank only if it won, the paired 95% interval (tasks
    resampled within each language, languages weighted alike) above 0."""
    import json

    from rrr_cli.atomic import atomic_write_text
    from rrr_cli.metrics import paired_bootstrap
    from rrr_cli.ranking.rerank import FALLBACK_SCORER, VERSUS_FALLBACK
    from rrr_cli.reranker import MANIFEST, read_manifest

    tasks = sum(len(v) for v in values["reranker"].values())
    if not tasks:
        return

    def mean(by_language: dict[str, list[float]]) -> float:
        return sum(sum(v) / len(v) for v in by_language.values()) / len(by_language)

    difference, low, high = paired_bootstrap(values["reranker"], values["fallback"])
    record = {"tasks": tasks, "fallback_scorer": FALLBACK_SCORER, "reranker": mean(values["reranker"]),
              "fallback": mean(values["fallback"]), "difference": difference, "interval": [low, high],
              "beats": low > 0, **({"measured": how} if how else {})}
    manifest = read_manifest(directory)
    manifest[VERSUS_FALLBACK] = record
    atomic_write_text(Path(directory) / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    verdict = ("the default from now on" if record["beats"] else
               f"not the default (no clear win; use it with --scorer reranker:{Path(directory).name})")
    notice(f"{how or 'held-out'} reranked@1 on {tasks} tasks: reranker {record['reranker']:.3f}, public examples + "
           f"mean log-prob {record['fallback']:.3f} (difference {difference:+.3f}, 95% [{low:+.3f}, {high:+.3f}]): "
           + verdict)


def _evidence_table(candidates) -> tuple[dict[tuple[str, str], list[float]], str]:
    """Each (prompt, completion)'s execution evidence, from one consensus run per task over its
    candidates (the examples and their mutations; no model is asked), and the probes it used."""
    from rrr_cli.ranking.evidence import Evidence
    from rrr_cli.ranking.rerank import task_of

    by_task: dict[str, list] = {}
    for candidate in candidates:
        by_task.setdefault(candidate.task_id, []).append(candidate)
    groups = [(task_of(members[0]), members) for members in by_task.values()]
    provider = Evidence()
    table: dict[tuple[str, str], list[float]] = {}
    notice(f"running {len(candidates)} candidates on their examples and probes (the execution evidence)")
    for start in range(0, len(groups), 8):
        chunk = groups[start:start + 8]
        for (task, members), rows in zip(chunk, provider.rows(chunk)):
            for candidate, row in zip(members, rows):
                table.setdefault((candidate.prompt, candidate.completion), row)
    return table, provider.probes


command.__doc__ = help_text(command.__doc__)
