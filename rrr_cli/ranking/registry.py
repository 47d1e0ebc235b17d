"""The scorer registry, the top of `rrr_cli.ranking`: rrr's own scorer factories and `get_scorer`.

The factories are registered in pyproject.toml under the `rrr.scorers` entry-point group, as a plugin
package registers its own (`rrr_cli.plugins`); `get_scorer` finds every scorer, rrr's or a plugin's,
through those entry points. A factory takes `argument` (the text after `NAME:`) and the options a
command offers (seed for random, runner for the ones that run programs, ...); it ignores the options
it has no use for.
"""

from __future__ import annotations

from typing import Any

from rrr_cli import plugins
from rrr_cli.errors import RrrError
from rrr_cli.ranking.base import Scorer
from rrr_cli.ranking.consensus import consensus_scorer as build_consensus
from rrr_cli.ranking.evidence_scorer import EvidenceScorer, load_model as load_evidence_model
from rrr_cli.ranking.reward import RewardModelScorer
from rrr_cli.ranking.scorers import MeanLogprobScorer, PublicExamplesScorer, RandomScorer, Runner, WeightedScorer


def no_argument(name: str, argument: str | None) -> None:
    """For a scorer factory that takes no `NAME:ARGUMENT`: a one-line RrrError when it got one."""
    if argument:
        raise RrrError(f"scorer {name!r} takes no argument (got {name}:{argument})")


def random_scorer(argument: str | None = None, *, seed: int = 0, **options: Any) -> Scorer:
    no_argument("random", argument)
    return RandomScorer(seed=seed)


def mean_logprob_scorer(argument: str | None = None, **options: Any) -> Scorer:
    no_argument("mean_logprob", argument)
    return MeanLogprobScorer()


def public_examples_scorer(argument: str | None = None, *, runner: Runner | None = None, **options: Any) -> Scorer:
    no_argument("public_examples", argument)
    return PublicExamplesScorer(runner=runner)


def _consensus(name: str, variant: str | None, argument: str | None, runner: Runner | None) -> Scorer:
    no_argument(name, argument)
    return build_consensus(variant, runner=runner)


def consensus_scorer(argument: str | None = None, *, runner: Runner | None = None, **options: Any) -> Scorer:
    return _consensus("consensus", None, argument, runner)


def consensus_dual_scorer(argument: str | None = None, *, runner: Runner | None = None, **options: Any) -> Scorer:
    return _consensus("consensus-dual", "dual", argument, runner)


def consensus_mbr_scorer(argument: str | None = None, *, runner: Runner | None = None, **options: Any) -> Scorer:
    return _consensus("consensus-mbr", "mbr", argument, runner)


def weighted_scorer(argument: str | None = None, *, weights: dict[str, float] | str | None = None,
                    **options: Any) -> Scorer:
    """`weighted:a=1,b=0.5`: each part built by name with the same options."""
    weights = argument or weights
    if isinstance(weights, str):
        weights = parse_weights(weights)
    if not weights:
        weights = {"public_examples": 1.0, "mean_logprob": 0.1}
    return WeightedScorer([(get_scorer(name, **options), weight) for name, weight in weights.items()])


def reranker_scorer(argument: str | None = None, *, path: str | None = None, **options: Any) -> Scorer:
    """`reranker:PATH`: a trained reward model (by default the newest one)."""
    options = {k: v for k, v in options.items() if k not in ("seed", "runner")}
    return RewardModelScorer.load(argument or path, **options)


def evidence_scorer(argument: str | None = None, **options: Any) -> EvidenceScorer:
    """`evidence` (the shipped weights) or `evidence:PATH` (a model file)."""
    return EvidenceScorer(load_evidence_model(argument) if argument else None)


def scorer_names() -> list[str]:
    """Every installed scorer (entry points of `rrr.scorers`)."""
    return plugins.names("scorer")


def parse_weights(text: str) -> dict[str, float]:
    """`public_examples=1,mean_logprob=0.5` → {name: weight}."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            weights[name.strip()] = float(value) if value else 1.0
        except ValueError:
            raise RrrError(f"weighted scorer: {part!r} is not NAME=WEIGHT") from None
    return weights


def get_scorer(name: str, **options: Any) -> Scorer:
    """A scorer by name, looked up among the `rrr.scorers` entry points. `NAME:ARGUMENT` passes the
    argument to the scorer's factory (`weighted:a=1,b=0.5`, `reranker:PATH`).

    Keyword options go to the factory (seed for random, runner for the ones that run programs, ...);
    each factory ignores the ones it does not use.
    """
    base, _, argument = name.partition(":")
    if base not in scorer_names():
        raise RrrError(f"unknown scorer {name!r} (known: {', '.join(scorer_names())})")
    factory = plugins.callable_or_report("scorer", base)
    if factory is None:
        raise RrrError(f"scorer {base!r} is installed but broken (see the warning above)")
    scorer = factory(argument or None, **options)
    if not isinstance(scorer, Scorer):
        raise RrrError(f"scorer plugin {base!r} returned {type(scorer).__name__}, not a Scorer")
    return scorer


__all__ = ["get_scorer", "scorer_names", "parse_weights", "no_argument", "random_scorer", "mean_logprob_scorer",
           "public_examples_scorer", "consensus_scorer", "consensus_dual_scorer", "consensus_mbr_scorer",
           "weighted_scorer", "reranker_scorer", "evidence_scorer"]
