"""`rrr solve`: the best completion for one task file, with how every candidate did on its examples."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Optional

import typer

from rrr_cli import config
from rrr_cli.commands import options
from rrr_cli.errors import RrrError
from rrr_cli.generation.prompts import check_style
from rrr_cli.tasks import EXTENSIONS
from rrr_cli.tasks.taskfile import load_task_file
from rrr_cli.ui import help_text, notice, stderr, stdout, write_data

ABSTAIN_EXIT = 4  # the pick's confidence is below --min-confidence: nothing written


def command(
    task_file: Path = typer.Argument(..., help="A file whose last function has a signature and a "
                                     "doc comment but no body (task.py, Task.java, task.cpp, ...)."),
    n: Optional[int] = typer.Option(None, "-n", help="Candidates to sample (default: 8)."),
    temperature: Optional[float] = options.Temperature,
    top_p: Optional[float] = options.TopP,
    max_tokens: Optional[int] = options.MaxTokens,
    seed: Optional[int] = options.Seed,
    model: Optional[str] = options.Model,
    backend: Optional[str] = options.Backend,
    prompt_style: Optional[str] = options.PromptStyle,
    scorer: Optional[str] = typer.Option(None, "--scorer", help="How to pick: public_examples, consensus "
                                         "(consensus-dual, consensus-mbr), mean_logprob, random, weighted, "
                                         "reranker (default: the newest trained reranker that beat "
                                         "public examples + mean log-prob on held-out tasks, else those)."),
    as_json: bool = typer.Option(False, "--json", help="Print the machine-readable result."),
    write: bool = typer.Option(False, "--write", help="Write the chosen body into the file "
                               "(the original is kept as FILE.bak)."),
    plain: bool = typer.Option(False, "--plain", help="Print the completed file as plain text, as when "
                               "stdout is piped, even on a terminal."),
    cascade: Optional[str] = typer.Option(
        None, "--cascade", metavar="MODEL", help="When the pick's confidence is below --cascade-below, sample "
        "as many candidates from this (bigger) model, join them to the pool and pick again."),
    cascade_below: float = typer.Option(
        options.CASCADE_BELOW, "--cascade-below", metavar="P", help="The confidence under which --cascade asks the "
        "bigger model. The default was chosen on half of 320 MultiPL-E tasks, and again on the other half, for "
        "the most accuracy per extra second of the 1.5B model (README: How sure)."),
    min_confidence: Optional[float] = typer.Option(
        None, "--min-confidence", metavar="P", help="Below this probability that the pick is right, show the "
        f"candidates and where they disagree, write nothing and exit with status {ABSTAIN_EXIT}."),
    threads: Optional[int] = options.Threads,
    n_ctx: Optional[int] = options.NCtx,
) -> None:
    """Write the best body for a task file's open function.

    Samples N candidates, runs the doc comment's `>>>` examples against each in the sandbox, and
    picks the best (most examples passed, ties by the model's mean log-prob; a trained reranker
    takes over once its manifest records a held-out win over that).

    Piped (or with --plain), stdout is exactly the completed file, the same text --write puts in
    place; which candidate won and how every candidate did go to stderr. On a terminal the completed
    function is shown highlighted.

    Every pick comes with the probability that it passes tests it has not seen ("likely correct:
    0.82"), read from its execution evidence by a model fitted on held-out benchmark tasks. Exit
    status: 0 solved; 2 bad input; 4 the confidence is below --min-confidence (nothing written).

    Examples:

      rrr solve examples/is_palindrome.py

      rrr solve examples/running_max.py > running_max_solved.py

      rrr solve examples/is_palindrome.py -n 16 --temperature 0.6 --json

      rrr solve examples/sum_of_squares.cpp --threads 1

      rrr solve examples/is_palindrome.py --write

      rrr solve examples/is_palindrome.py --min-confidence 0.9 --write

      rrr solve examples/is_palindrome.py --cascade qwen2.5-coder-1.5b-instruct
    """
    from rrr_cli.generation.backends import open_backend  # heavy: loads llama.cpp
    from rrr_cli.generation.sampling import sample_candidates
    from rrr_cli.ranking import rank
    from rrr_cli.ranking.confidence import pick_confidence
    from rrr_cli.ranking.rerank import default_scorer
    from rrr_cli.ranking.registry import get_scorer
    from rrr_cli.ranking.scorers import PublicExamplesScorer

    if task_file.suffix not in EXTENSIONS:
        raise RrrError(f"{task_file}: unknown task file extension {task_file.suffix!r} "
                       f"(known: {', '.join(sorted(EXTENSIONS))})")
    if as_json and plain:
        raise RrrError("--json and --plain are exclusive")
    for flag, value in (("--min-confidence", min_confidence), ("--cascade-below", cascade_below)):
        if value is not None and not 0 <= value <= 1:
            raise RrrError(f"{flag} must be a probability in [0, 1], got {value}")
    task = load_task_file(task_file)
    if write and task.language != "python":
        raise RrrError(f"{task_file}: --write is supported for Python task files only, for now")
    params = options.sampling_params("solve", n, temperature, top_p, max_tokens, seed)
    style = check_style(config.get("sample.prompt_style", prompt_style))
    engine_settings = options.backend_settings(n_ctx, threads)
    started = time.perf_counter()
    with open_backend(model, config.get("sample.backend", backend), **engine_settings) as engine:
        stages = {"model_load": time.perf_counter() - started}
        with stderr.status(f"sampling {params.n} candidates with {engine.model_name}…",
                           spinner="dots") if stderr.is_terminal else contextlib.nullcontext():
            candidates = list(sample_candidates([task], engine, params, style))
        sampled = time.perf_counter() - started
        stages["sampling"] = sampled - stages["model_load"]
        chooser = get_scorer(scorer) if scorer else default_scorer(notice=notice)
        _probe_with(chooser, engine)
        ranked = rank(task, candidates, chooser)  # a consensus scorer may still ask the model for probes
        stages["ranking"] = time.perf_counter() - started - sampled
    mark = time.perf_counter()
    sure = pick_confidence(task, candidates, ranked[0])
    stages["confidence"] = time.perf_counter() - mark
    escalated = cascade is not None and sure.probability < cascade_below
    if escalated:
        notice(f"likely correct: {sure.probability:.2f}, below --cascade-below {cascade_below:g}: "
               f"sampling {params.n} more with {cascade}")
        with open_backend(cascade, config.get("sample.backend", backend), **engine_settings) as bigger:
            more = [dataclasses.replace(c, sample_id=c.sample_id + len(candidates))
                    for c in sample_candidates([task], bigger, params, style)]
            candidates = candidates + more
            ranked = rank(task, candidates, chooser)  # the same scorer: a reranker is not loaded twice
        sure = pick_confidence(task, candidates, ranked[0])
        stages["cascade"] = time.perf_counter() - mark - stages["confidence"]
    examples = PublicExamplesScorer()
    outcomes = examples.examples_passed(task, candidates)
    best = ranked[0]
    by_id = {c.sample_id: o for c, o in zip(candidates, outcomes)}
    consensus = _consensus(chooser, task)
    abstain = min_confidence is not None and sure.probability < min_confidence
    elapsed = time.perf_counter() - started
    completed = completed_file(task_file, task, best.completion) if not abstain and (write or not as_json) else None
    if write and not abstain:
        _write_back(task_file, completed)
    if as_json:
        result = {
            "task_id": task.task_id, "file": str(task_file), "language": task.language,
            "scorer": chooser.name, "reranker": getattr(chooser, "reranker", None),
            "completion": best.completion, "score": best.score,
            "sample_id": best.sample_id, **by_id[best.sample_id].to_dict(),
            "confidence": sure.probability, "confidence_basis": sure.basis, "abstained": abstain,
            "model": best.model, "escalated": escalated,
            "seconds": round(elapsed, 2), "sampling_seconds": round(sampled, 2),
            "stage_seconds": {stage: round(value, 3) for stage, value in stages.items()},
            "candidates": [{**c.to_dict(), **by_id[c.sample_id].to_dict()} for c in ranked],
        }
        if consensus is not None:
            result["consensus"] = consensus.to_dict()
        write_data(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    elif abstain:
        _summary(ranked, by_id, _scorer_label(chooser), elapsed, consensus or _consensus(sure.evidence.consensus, task))
    else:
        if plain or not stdout.is_terminal:
            write_data(completed)
        else:
            _highlight(task, best.completion)
        _summary(ranked, by_id, _scorer_label(chooser), elapsed, consensus)
    line = f"likely correct: {sure.probability:.2f} — {sure.basis}"
    if escalated:
        line += f"; the pick is {best.model}'s"
    if abstain:
        notice(f"{line}; below --min-confidence {min_confidence:g}, so nothing was written")
        raise typer.Exit(ABSTAIN_EXIT)
    if not as_json:
        stderr.print(line, markup=False, highlight=False, soft_wrap=True)


def completed_file(path: Path, task, completion: str) -> str:
    """The task file with `completion` as the open function's body: what `--write` writes and what a
    pipe gets. The rest of the file is kept as it is."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith(task.prompt.rstrip("\n")):
        raise RrrError(f"{path}: the file changed while solving")
    lines = text.splitlines(keepends=True)
    start = task.extra.get("body_start_line")
    end = task.extra.get("body_end_line")
    if not isinstance(start, int) or not isinstance(end, int):
        raise RrrError(f"{path}: cannot tell where the body of {task.entry_point or 'the function'} goes")
    head = "".join(lines[: start - 1])
    if head and not head.endswith("\n"):
        head += "\n"
    body = _body(task, completion)
    if task.language == "python":
        rest = lines[max(end, start - 1):]  # the old body (`pass`, `...`) is replaced
    else:
        rest = lines[end:]  # the old body and its closing brace: the body above closes the function
    if rest and body and not body.endswith("\n"):
        body += "\n"
    return head + body + "".join(rest)


def _body(task, completion: str) -> str:
    """The completion, closed where the language's tests (not the model) close the function."""
    if task.tests.lstrip().startswith("}"):
        signature = task.prompt.rstrip("\n").splitlines()[-1]
        indent = signature[: len(signature) - len(signature.lstrip())]
        return completion.rstrip("\n") + "\n" + indent + "}\n"
    return completion


def _highlight(task, completion: str) -> None:
    """The completed function, highlighted for a terminal. Printed as soft-wrapped text: the terminal
    folds long lines for display, but the characters (and a copy-paste) are the code's own."""
    from rich.syntax import Syntax

    code = "".join(task.prompt.splitlines(keepends=True)[_function_start(task):]) + _body(task, completion)
    from rrr_cli.execution.languages import get_language

    syntax = Syntax(code, get_language(task.language).fence, background_color="default")  # the fence names the lexer
    text = syntax.highlight(code)
    text.rstrip()  # print ends the last line
    stdout.print(text, soft_wrap=True)


def _probe_with(chooser, engine) -> None:
    """A consensus scorer also runs the candidates on calls the model writes (kept in the cache, so
    solving the same file again asks nothing): the only probes a task without examples has."""
    from rrr_cli.ranking.consensus import ConsensusScorer
    from rrr_cli.ranking.probe_cache import GeneratedProbes

    if isinstance(chooser, ConsensusScorer) and chooser.generator is None:
        chooser.generator = GeneratedProbes(engine.model_name, backend=engine)


def _consensus(chooser, task):
    """The behaviour groups a consensus scorer saw on this task (None for other scorers)."""
    results = getattr(chooser, "results", None)
    return results.get(task.task_id) if isinstance(results, dict) else None


def _scorer_label(chooser) -> str:
    """The scorer's name, with the reranker's when it is one ("reranker rrr-0.5b-8lang")."""
    name = getattr(chooser, "reranker", None)
    return f"{chooser.name} {name}" if name else chooser.name


def _summary(ranked, outcomes, scorer_name, elapsed, consensus=None) -> None:
    """Which candidate won and how each did, and where the behaviour groups part: messages for the user,
    so on stderr."""
    from rich.table import Table

    best = ranked[0]
    outcome = outcomes[best.sample_id]
    stderr.print(f"[bold]candidate {best.sample_id}[/] chosen by {scorer_name} "
                 f"(score {best.score:.3f}; {outcome.describe()}) in {elapsed:.1f} s", soft_wrap=True)
    table = Table(title=None, show_edge=False, header_style="bold")
    group_of = {member: index for index, group in enumerate(consensus.groups, start=1)
                for member in group.members} if consensus else {}
    cascaded = len({candidate.model for candidate in ranked}) > 1  # --cascade joined a second model's
    for column in ("rank", "candidate", *(("model",) if cascaded else ()), "examples",
                   *(("group",) if group_of else ()), "mean log-prob", "tokens", "score"):
        table.add_column(column, justify="right")
    for candidate in ranked:
        mean = candidate.mean_logprob
        group = (str(group_of.get(candidate.sample_id, "-")),) if group_of else ()
        table.add_row(str(candidate.rank), str(candidate.sample_id), *((candidate.model,) if cascaded else ()),
                      outcomes[candidate.sample_id].describe(), *group, "-" if mean is None else f"{mean:.3f}",
                      str(candidate.n_tokens), f"{candidate.score:.3f}")
    stderr.print(table)
    split = consensus.split() if consensus and len(consensus.groups) > 1 else None
    if split:
        # Outputs hold brackets; they are text, not rich markup.
        stderr.print(f"{len(consensus.groups)} behaviour groups over {len(consensus.probes)} probes; "
                     + split.describe(), markup=False, highlight=False, soft_wrap=True)


def _function_start(task) -> int:
    """Index of the first line of the function to complete within the prompt (0 if unknown)."""
    lines = task.prompt.splitlines()
    start = task.extra.get("function_start_line")
    if isinstance(start, int):
        return max(0, start - 1)
    if task.language == "python" and task.entry_point:
        for index in range(len(lines) - 1, -1, -1):
            if lines[index].lstrip().startswith(("def ", "async def ")) and task.entry_point in lines[index]:
                while index > 0 and lines[index - 1].lstrip().startswith("@"):
                    index -= 1
                return index
    return 0


def _write_back(path: Path, new_text: str) -> None:
    """Put the completed file in place, keeping the original as FILE.bak; atomic."""
    from rrr_cli.atomic import atomic_write_text

    backup = path.with_name(path.name + ".bak")
    shutil.copy2(path, backup)
    atomic_write_text(path, new_text)
    notice(f"wrote the body into {path} (original kept as {backup})")


command.__doc__ = help_text(command.__doc__)
