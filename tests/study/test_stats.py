import numpy as np
import pytest
from scipy import stats as sps

from rnnjax.study import stats

RNG = np.random.default_rng(0)


def test_describe_matches_direct_numpy():
    x = RNG.normal(size=20)
    s = stats.describe(x)
    assert s["n"] == 20
    assert s["median"] == pytest.approx(np.median(x))
    assert s["mean"] == pytest.approx(x.mean())
    assert s["q25"] == pytest.approx(np.percentile(x, 25)) and s["q75"] == pytest.approx(np.percentile(x, 75))
    middle = np.sort(x)[5:15]  # the interquartile mean of 20 values is the mean of the middle 10
    assert s["iqm"] == pytest.approx(middle.mean())
    lo, hi = s["mean_ci95"]
    assert lo < x.mean() < hi
    half = 1.96 * x.std(ddof=1) / np.sqrt(20)  # the bootstrap CI is near the normal one
    assert hi - lo == pytest.approx(2 * half, rel=0.25)


def test_non_finite_values_are_excluded_not_propagated():
    s = stats.describe([1.0, np.nan, 3.0, np.inf])
    assert s["n"] == 2 and s["median"] == 2.0 and s["mean"] == 2.0


def test_one_and_zero_values_say_so():
    one = stats.describe([0.5])
    assert one["median"] == 0.5 and one["mean_ci95"] is None and "2 seeds" in one["note"]
    none = stats.describe([np.nan])
    assert none["n"] == 0 and none["median"] is None and none["note"]


def test_paired_comparison():
    a = RNG.normal(1.0, 0.1, 12)
    b = a + 0.2 + RNG.normal(0, 0.05, 12)
    c = stats.paired(a, b)
    assert c["pairs"] == 12
    assert c["median_diff"] == pytest.approx(np.median(a - b))
    assert c["diff_ci95"][0] < c["median_diff"] < c["diff_ci95"][1]
    assert c["p_value"] == pytest.approx(sps.wilcoxon(a, b).pvalue)
    wins = (a[:, None] < b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean()
    assert c["prob_a_better"] == pytest.approx(wins)
    assert "Wilcoxon" in c["test"]


def test_paired_drops_pairs_with_a_non_finite_side():
    a = np.array([1.0, 2.0, np.nan, 4.0])
    b = np.array([2.0, np.inf, 3.0, 5.0])
    c = stats.paired(a, b)
    assert c["pairs"] == 2 and c["median_diff"] == -1.0


def test_paired_with_one_seed_says_so():
    c = stats.paired([1.0], [2.0])
    assert c["p_value"] is None and c["diff_ci95"] is None and "2 paired seeds" in c["note"]
    assert c["prob_a_better"] == 1.0


def test_holm_adjusts_step_down_and_leaves_untested_pairs_out():
    # m = 4 tested: sorted 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06 (monotone), 0.06
    assert stats.holm([0.04, None, 0.01, 0.03, 0.02]) == pytest.approx([0.06, None, 0.04, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == [] and stats.holm([None]) == [None]
