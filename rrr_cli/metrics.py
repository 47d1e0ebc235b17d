"""The numbers `rrr eval` reports: pass@k, oracle, reranked@1 and the share of the gap recovered.

All per-task functions take plain lists (scores, pass flags) so they are easy to check by hand;
`summarise` turns per-task values into a per-group mean.
"""

from __future__ import annotations

from math import comb
from typing import Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): the chance that k of the n samples, drawn without
    replacement, include at least one of the c correct ones. 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n (got n={n}, c={c})")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n (got n={n}, k={k})")
    if n - c < k:
        return 1.0
    # The product form avoids huge binomials: C(n-c, k)/C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i).
    fail = 1.0
    for i in range(n - c + 1, n + 1):
        fail *= 1.0 - k / i
    return 1.0 - fail


def oracle(passed: Sequence[bool]) -> float:
    """1.0 when some candidate passes (pass@N): the best any reranker could do."""
    return 1.0 if any(passed) else 0.0


def _levels(scores: Sequence[float], passed: Sequence[bool]) -> list[tuple[int, int]]:
    """(size, number passed) of each group of equal scores, best score first."""
    groups: dict[float, list[int]] = {}
    for score, ok in zip(scores, passed):
        size_passed = groups.setdefault(float(score), [0, 0])
        size_passed[0] += 1
        size_passed[1] += int(bool(ok))
    return [(size, good) for _, (size, good) in sorted(groups.items(), key=lambda item: -item[0])]


def reranked_at_1(scores: Sequence[float], passed: Sequence[bool]) -> float:
    """Whether the top-scored candidate passes; with ties at the top, the expected value of a random
    pick among the tied candidates (the share of them that pass)."""
    if len(scores) != len(passed):
        raise ValueError("scores and passed differ in length")
    if not scores:
        return 0.0
    size, good = _levels(scores, passed)[0]
    return good / size


def reranked_at_1_subsampled(scores: Sequence[float], passed: Sequence[bool], m: int) -> float:
    """Expected reranked@1 when only m of the candidates, chosen uniformly at random, were sampled.

    Exact, not Monte Carlo: the best score level present in a random m-subset is level L with
    probability [C(n - above_L, m) - C(n - above_L - size_L, m)] / C(n, m); given that, the pick is a
    uniform one among the level's members, so it passes with probability passed_L / size_L.
    m = 1 gives pass@1, m = n gives `reranked_at_1`.
    """
    n = len(scores)
    if not 1 <= m <= n:
        raise ValueError(f"need 1 <= m <= n (got n={n}, m={m})")
    total = comb(n, m)
    above = 0
    expected = 0.0
    for size, good in _levels(scores, passed):
        p_top = (comb(n - above, m) - comb(n - above - size, m)) / total
        expected += p_top * good / size
        above += size
    return expected


def gap_recovered(reranked: float, pass1: float, oracle_value: float) -> float | None:
    """The share of the gap from pass@1 (a random pick) to the oracle that a scorer closes;
    None when there is no gap (every task solved by all, or by none)."""
    gap = oracle_value - pass1
    if gap <= 1e-12:
        return None
    return (reranked - pass1) / gap


def mean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def default_ks(n: int) -> list[int]:
    """The k of pass@k worth reporting for n samples (pass@n is the oracle, reported on its own)."""
    return [k for k in (1, 2, 5, 10, 20, 50, 100) if k < n] or [1]


def paired_bootstrap(a_by_group: dict[str, Sequence[float]], b_by_group: dict[str, Sequence[float]],
                     resamples: int = 10_000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(difference, low, high): the average over groups of mean(a) - mean(b), with a percentile
    interval from resampling tasks with replacement within each group, the same tasks for a and b.

    `a_by_group[g][i]` and `b_by_group[g][i]` are two scorers' values on the same task i of group g (a
    language), so the interval reflects task-to-task variation of the *difference*, not of each scorer;
    averaging over groups weights every language alike, as the report's average does.
    """
    import random

    groups = [g for g in a_by_group if len(a_by_group[g])]
    if not groups:
        raise ValueError("no tasks to compare")
    diffs = {g: [x - y for x, y in zip(a_by_group[g], b_by_group[g], strict=True)] for g in groups}
    point = sum(sum(d) / len(d) for d in diffs.values()) / len(groups)
    rng = random.Random(seed)
    samples = []
    for _ in range(resamples):
        total = 0.0
        for d in diffs.values():
            total += sum(d[rng.randrange(len(d))] for _ in d) / len(d)
        samples.append(total / len(groups))
    samples.sort()
    tail = (1 - level) / 2
    low = samples[int(tail * (resamples - 1))]
    high = samples[int((1 - tail) * (resamples - 1))]
    return point, low, high
