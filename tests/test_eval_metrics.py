"""pass@k, reranked@1 (with ties), its subsampled curve, and the gap recovered, against hand-computed values."""

from __future__ import annotations

import itertools
from math import comb

import pytest

from rrr_cli import metrics


@pytest.mark.parametrize("n, c, k, expected", [
    (5, 2, 1, 2 / 5),
    (5, 2, 2, 1 - comb(3, 2) / comb(5, 2)),  # 1 - 3/10
    (10, 3, 5, 1 - comb(7, 5) / comb(10, 5)),  # 1 - 21/252
    (4, 1, 4, 1.0),
    (8, 0, 3, 0.0),
    (8, 8, 1, 1.0),
    (3, 2, 2, 1.0),  # only one failure: any two include a pass
])
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert metrics.pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_matches_enumeration():
    n, c = 6, 2
    outcomes = [True] * c + [False] * (n - c)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(outcomes, k))
        brute = sum(any(s) for s in subsets) / len(subsets)
        assert metrics.pass_at_k(n, c, k) == pytest.approx(brute)


def test_pass_at_k_rejects_nonsense():
    with pytest.raises(ValueError):
        metrics.pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        metrics.pass_at_k(3, 1, 4)


def test_reranked_at_1_without_ties():
    assert metrics.reranked_at_1([0.1, 0.9, 0.5], [False, True, False]) == 1.0
    assert metrics.reranked_at_1([0.9, 0.1, 0.5], [False, True, True]) == 0.0


def test_reranked_at_1_counts_expected_value_over_ties_at_the_top():
    # Three tied at the top, one of them passes: a random pick among them passes 1/3 of the time.
    assert metrics.reranked_at_1([2, 2, 2, 1], [True, False, False, True]) == pytest.approx(1 / 3)
    # All tied: the same as pass@1.
    assert metrics.reranked_at_1([0, 0, 0, 0], [True, True, False, False]) == 0.5
    # Ties below the top do not matter.
    assert metrics.reranked_at_1([3, 1, 1], [True, False, False]) == 1.0


def test_subsampled_curve_ends_at_pass1_and_reranked():
    scores = [0.9, 0.9, 0.5, 0.2, 0.2]
    passed = [False, True, False, True, True]
    assert metrics.reranked_at_1_subsampled(scores, passed, 1) == pytest.approx(3 / 5)
    assert metrics.reranked_at_1_subsampled(scores, passed, 5) == pytest.approx(0.5)
    # m = 2 by enumeration of all pairs, each pair resolved with the same tie rule.
    pairs = list(itertools.combinations(range(5), 2))
    brute = sum(metrics.reranked_at_1([scores[i] for i in p], [passed[i] for i in p]) for p in pairs) / len(pairs)
    assert metrics.reranked_at_1_subsampled(scores, passed, 2) == pytest.approx(brute)


def test_gap_recovered():
    assert metrics.gap_recovered(0.5, 0.25, 0.75) == pytest.approx(0.5)
    assert metrics.gap_recovered(0.75, 0.25, 0.75) == pytest.approx(1.0)
    assert metrics.gap_recovered(0.1, 0.25, 0.75) == pytest.approx(-0.3)
    assert metrics.gap_recovered(0.5, 0.5, 0.5) is None


def test_default_ks():
    assert metrics.default_ks(8) == [1, 2, 5]
    assert metrics.default_ks(1) == [1]


def test_paired_bootstrap_interval():
    from rrr_cli.metrics import paired_bootstrap

    # Identical scorers: a zero difference with a zero-width interval.
    assert paired_bootstrap({"py": [1, 0, 1]}, {"py": [1, 0, 1]}, resamples=200) == (0.0, 0.0, 0.0)
    # One better on 3 of 20 tasks, never worse: +0.15, an interval above 0 that holds the point.
    a, b = [1.0] * 3 + [0.0] * 17, [0.0] * 20
    diff, low, high = paired_bootstrap({"py": a}, {"py": b}, resamples=2000, seed=1)
    assert diff == pytest.approx(0.15) and 0 <= low < diff < high <= 0.4
    # Better on 2, worse on 2: the interval straddles 0.
    diff, low, high = paired_bootstrap({"py": [1, 1, 0, 0] + [0] * 16}, {"py": [0, 0, 1, 1] + [0] * 16},
                                       resamples=2000)
    assert diff == 0 and low < 0 < high
    # Groups are averaged alike, whatever their size.
    diff, _, _ = paired_bootstrap({"a": [1.0], "b": [0.0] * 9}, {"a": [0.0], "b": [0.0] * 9}, resamples=10)
    assert diff == pytest.approx(0.5)
