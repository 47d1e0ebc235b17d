"""How likely the chosen candidate is right: a calibrated probability from what running it showed.

The inputs are the chosen candidate's execution evidence (`ranking.evidence`: examples passed, whether
the prompt has any, whether it builds, its behaviour group's share, whether that group is the biggest,
probe failures), its mean token probability under the generator, how many examples the prompt shows,
how many candidates do as well on them, whether it passes every one of them, and the task's language
(`feature_row`). A logistic regression on those numbers maps them to P(the pick passes the hidden
tests). A model names the inputs it reads, so one fitted before an input existed still loads.

Why "passes every example" is an input of its own: the hidden tests of a MultiPL-E task contain its
examples, so a pick that fails one example almost never passes; a weight on the share passed alone
gave a pick passing 4 of 5 a probability near 0.4 (out of fold on 640 tasks, picks at 0.2-0.5 passed
1 time in 10).

Why a logistic regression over the inputs rather than Platt scaling of one score or isotonic
regression: the selectors that pick (public examples, consensus, a reranker) have scores on different
scales, while the evidence means the same thing under each; a few hundred held-out tasks are enough
for twenty weights (L2-penalised) but leave isotonic regression's steps noisy, and the fit is smooth
and monotone in every input it leans on.

The shipped model (`rrr_cli/data/confidence.json`) was fitted on MultiPL-E eval runs of the default
model; its file records what it was fitted on and the out-of-fold calibration error measured before
the final fit (`benchmarks/calibration.py RUN_DIR`, which also draws the reliability diagram).

The language inputs come from the registry of languages: one `language_NAME` per installed language, in
report order (`execution.languages.languages_in_order`: rrr's own eight first, in the order the shipped
model was fitted on, then a plugin's), so a plugin language has a column a model fitted on its tasks
learns a weight for. A model reads its inputs by name, so one fitted before a plugin was installed reads
the same columns as before, and a built-in language's confidence is unchanged. A language a model has no
column for (Go under the shipped model) gets the language term 0: the fit's intercept is unpenalised and
each row it was fitted on names exactly one of its languages, so the L2 penalty leaves the language
weights summing to zero (the shipped ones sum to 2e-15), and 0 is their mean, the effect of the average
language it was fitted on. The pick's other inputs count as they do in any language; `basis` says the
language was read as the average one. A model that names the column of a language not installed here
still loads (its rows read 0 there).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from rrr_cli.atomic import atomic_write_text
from rrr_cli.errors import RrrError
from rrr_cli.execution.languages import languages, languages_in_order
from rrr_cli.ranking.evidence import EVIDENCE_NAMES, Evidence
from rrr_cli.records import Candidate, Task

# The installed languages, in report order: rrr's own eight (python, cpp, java, php, ts, cs, sh, js, the
# columns of the shipped model), then a plugin's.
LANGUAGES = tuple(languages_in_order())
LANGUAGE_PREFIX = "language_"
FEATURES = (*EVIDENCE_NAMES, "token_probability", "examples_shown", "as_good_share",
            *(f"{LANGUAGE_PREFIX}{language}" for language in LANGUAGES), "passes_all_examples")
_COLUMNS = {name: index for index, name in enumerate(FEATURES)}
FORMAT = "rrr-confidence-2"


def feature_row(rows: Sequence[Sequence[float]], pick: int, mean_logprob: float | None, examples_total: int,
                language: str) -> list[float]:
    """The model's inputs for the candidate at `pick` among its task's evidence `rows`: its evidence,
    exp(its mean log-prob) (0 without one), how many examples the prompt shows (min(n, 5) / 5), the
    share of candidates that pass as many examples as it does, the language (one-hot over the installed
    languages, `LANGUAGES`; one not installed reads as none of them), and whether the prompt shows
    examples and it passes all."""
    probability = math.exp(mean_logprob) if mean_logprob is not None and math.isfinite(mean_logprob) else 0.0
    passed = rows[pick][0]
    as_good = sum(abs(row[0] - passed) < 1e-9 for row in rows) / max(len(rows), 1)
    return ([float(value) for value in rows[pick]] + [probability, min(examples_total, 5) / 5, as_good]
            + [1.0 if language == known else 0.0 for known in LANGUAGES]
            + [1.0 if examples_total and passed >= 1 - 1e-9 else 0.0])


@dataclass
class ConfidenceModel:
    """A fitted logistic regression from the inputs it names (`features`, some or all of `FEATURES`) to
    P(correct); `about` says what it was fitted on."""

    weights: list[float]
    bias: float
    features: tuple[str, ...] = FEATURES
    about: dict[str, Any] = field(default_factory=dict)

    def probability(self, row: Sequence[float]) -> float:
        """P(correct) for a full `feature_row` (one value per name in `FEATURES`). A language the model
        has no column for adds nothing: the average of the languages it was fitted on (module docstring);
        a column of a language not installed here reads 0."""
        if len(row) != len(FEATURES):
            raise RrrError(f"a confidence row has {len(FEATURES)} inputs, got {len(row)}")
        z = self.bias + sum(w * row[_COLUMNS[name]] for w, name in zip(self.weights, self.features)
                            if name in _COLUMNS)
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def reads_language(self, language: str) -> bool:
        """Whether the model has a column for `language` (else it reads it as the average language)."""
        return f"{LANGUAGE_PREFIX}{language}" in self.features

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self), "features": list(self.features)}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "ConfidenceModel":
        names = data.get("features") if isinstance(data, dict) else None
        if (not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(names, list)
                or not names or any(not _known_input(name) for name in names) or len(set(names)) != len(names)):
            got = (data.get("format"), data.get("features")) if isinstance(data, dict) else (type(data).__name__, None)
            raise RrrError(f"{where}: not a confidence model this version of rrr reads "
                           f"(format {got[0]!r}, inputs {got[1]})")
        weights, bias, about = data.get("weights"), data.get("bias"), data.get("about", {})
        if (not isinstance(weights, list) or len(weights) != len(names) or not isinstance(about, dict)
                or not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in [*weights, bias])):
            raise RrrError(f"{where}: a confidence model needs one numeric weight per input ({len(names)}), "
                           "a numeric bias and an `about` object")
        return cls([float(w) for w in weights], float(bias), tuple(names), dict(about))

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def _known_input(name: Any) -> bool:
    """An input this version computes, or the column of a language (installed here or not)."""
    return isinstance(name, str) and (name in _COLUMNS or (name.startswith(LANGUAGE_PREFIX)
                                                           and len(name) > len(LANGUAGE_PREFIX)))


def fit(rows: Sequence[Sequence[float]], labels: Sequence[bool], l2: float = 1.0,
        about: dict[str, Any] | None = None, features: Sequence[str] = FEATURES) -> ConfidenceModel:
    """Maximum likelihood with an L2 penalty `l2` on the weights (not the bias), by Newton's method,
    on the `features` columns of full `feature_row`s."""
    import numpy as np  # deferred: heavy, and only fitting needs it (scoring and `rrr solve` do not)

    if len(rows) != len(labels) or not rows:
        raise RrrError(f"cannot fit confidence on {len(rows)} rows and {len(labels)} labels")
    columns = [FEATURES.index(name) for name in features]
    x = np.hstack([np.asarray(rows, dtype=float)[:, columns], np.ones((len(rows), 1))])
    y = np.asarray(labels, dtype=float)
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30, 30)))
        gradient = x.T @ (p - y) + penalty * beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return ConfidenceModel([float(b) for b in beta[:-1]], float(beta[-1]), tuple(features), dict(about or {}))


def calibration_error(probabilities: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error: the mean over equal-width bins of |accuracy − mean probability|,
    weighted by the share of predictions in the bin."""
    return sum(len(b["labels"]) * abs(b["accuracy"] - b["confidence"])
               for b in reliability(probabilities, labels, bins)) / max(len(labels), 1)


def reliability(probabilities: Sequence[float], labels: Sequence[bool], bins: int = 10) -> list[dict[str, Any]]:
    """The non-empty bins of a reliability diagram: range, mean probability, accuracy, members."""
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for p, y in zip(probabilities, labels):
        members[min(int(p * bins), bins - 1)].append((p, bool(y)))
    return [{"low": index / bins, "high": (index + 1) / bins,
             "confidence": sum(p for p, _ in inside) / len(inside),
             "accuracy": sum(y for _, y in inside) / len(inside), "labels": [y for _, y in inside]}
            for index, inside in enumerate(members) if inside]


def load_model(path: str | Path | None = None, packaged: str = "confidence.json") -> ConfidenceModel:
    """The model in the file at `path`, or the one rrr ships as `rrr_cli/data/<packaged>`; an unreadable
    or malformed file is one RrrError line naming it."""
    where = str(path) if path is not None else f"rrr_cli/data/{packaged}"
    try:
        if path is None:
            text = resources.files("rrr_cli").joinpath("data", packaged).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RrrError(f"{where}: no such file" + ("" if path else " in this installation of rrr")) from None
    except OSError as exc:
        raise RrrError(f"{where}: cannot read the model ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise RrrError(f"{where}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RrrError(f"{where}:{exc.lineno}: not JSON ({exc.msg})") from None
    return ConfidenceModel.from_dict(data, where)


@lru_cache(maxsize=None)
def shipped() -> ConfidenceModel:
    """The confidence model that ships with rrr (see the module docstring), read once."""
    return load_model()


def describe(row: Sequence[float], n: int, examples_total: int) -> str:
    """What the confidence rests on, in words: `6 of 8 candidates agree, 3/3 examples`."""
    evidence = dict(zip(FEATURES, row))
    agree = round(evidence["group_share"] * n)
    parts = [f"{agree} of {n} candidates agree" if agree else "its behaviour is shared by none"]
    if examples_total:
        parts.append(f"{round(evidence['examples_passed'] * examples_total)}/{examples_total} examples")
    else:
        parts.append("no examples" + ("" if evidence["builds"] else "; does not build"))
    return ", ".join(parts)


@dataclass
class PickConfidence:
    probability: float
    basis: str  # what it rests on, in words
    evidence: Evidence  # its consensus scorer holds the groups and the examples' outcomes


def pick_confidence(task: Task, candidates: Sequence[Candidate], best: Candidate,
                    model: ConfidenceModel | None = None) -> PickConfidence:
    """The probability that `best` passes the hidden tests (`pick_confidences` for one task)."""
    return pick_confidences([(task, candidates, best)], model)[0]


def pick_confidences(picks: Sequence[tuple[Task, Sequence[Candidate], Candidate]],
                     model: ConfidenceModel | None = None) -> list[PickConfidence]:
    """For each (task, its candidates, the one picked): the confidence model's (default: the shipped
    one's) probability that the pick passes the hidden tests, read from its evidence over the examples
    and their mutations; one evidence run for all the tasks, so the sandbox runs them together."""
    model = model or shipped()
    evidence = Evidence()
    out = []
    for (task, candidates, best), rows in zip(picks, evidence.rows([(t, c) for t, c, _ in picks])):
        index = next(i for i, c in enumerate(candidates) if c.sample_id == best.sample_id)
        total = evidence.consensus.examples.outcomes[(task.task_id, best.sample_id)].total
        row = feature_row(rows, index, best.mean_logprob, total, task.language)
        basis = describe(row, len(candidates), total)
        if not model.reads_language(task.language) and any(n.startswith(LANGUAGE_PREFIX) for n in model.features):
            language = languages().get(task.language)
            basis += f"; {language.display_name if language else task.language} read as the average language"
        out.append(PickConfidence(model.probability(row), basis, evidence))
    return out


__all__ = ["PickConfidence", "pick_confidence", "pick_confidences", "ConfidenceModel", "FEATURES", "LANGUAGES", "feature_row",
           "fit", "calibration_error", "reliability", "load_model", "shipped", "describe"]
