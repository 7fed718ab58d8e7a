"""Statistics over seeds, in the practice of Agarwal et al. (2021), "Deep RL at the edge of
the statistical precipice": medians, interquartile means, bootstrap confidence intervals,
probability of improvement, and a paired test. Non-finite values are excluded (and
counted by the caller), never allowed to turn a statistic into NaN."""

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 10_000
TEST_NAME = "Wilcoxon signed-rank, paired by seed, two-sided"


def finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def bootstrap_ci(values: np.ndarray, statistic) -> list[float] | None:
    """Percentile bootstrap CI of `statistic(values, axis=-1)`; None for fewer than 2 values."""
    if len(values) < 2:
        return None
    if np.all(values == values[0]):  # nothing to resample
        return [float(values[0])] * 2
    ci = stats.bootstrap(
        (values,),
        statistic,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    return [float(ci.low), float(ci.high)]


def describe(values) -> dict:
    """median, IQM, mean with a bootstrap 95% CI, quartiles, over the finite values."""
    x = finite(values)
    out = {"n": len(x), "median": None, "iqm": None, "mean": None, "mean_ci95": None, "q25": None, "q75": None}
    if len(x) == 0:
        return {**out, "note": "no finite values"}
    q25, median, q75 = np.percentile(x, [25, 50, 75])
    out |= {
        "median": float(median),
        "iqm": float(stats.trim_mean(x, 0.25)),
        "mean": float(np.mean(x)),
        "mean_ci95": bootstrap_ci(x, np.mean),
        "q25": float(q25),
        "q75": float(q75),
    }
    if len(x) < 2:
        out["note"] = "a confidence interval needs at least 2 seeds"
    return out


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment for a family of tests (None: not tested, left out of the
    family): the i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j))."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        out[i] = running
    return out


FRACTION_NAME = "paired fraction of seeds (ties count half), Wilson score 95% CI"


def wilson_ci(wins: float, n: int, z: float = 1.959963984540054) -> list[float] | None:
    """Wilson's score interval of a proportion wins / n (95%); None without trials."""
    if n == 0:
        return None
    p = wins / n
    centre, half = (
        (p + z * z / (2 * n)) / (1 + z * z / n),
        z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n),
    )
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def paired(a, b) -> dict:
    """Compare a and b (lower is better) over seeds paired by index.

    median_diff and diff_ci95 are of the per-seed differences a − b; paired_fraction is the
    fraction of seed pairs in which a scores lower (ties half), with Wilson's 95% CI; the
    test is Wilcoxon's signed-rank on the pairs. prob_a_better is the unpaired statistic:
    P(a seed of a scores lower than any seed of b) (Mann–Whitney U / nm), kept beside it.
    Only pairs where both values are finite take part; `pairs` says how many.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    d = a - b
    out = {"pairs": len(d), "median_diff": None, "diff_ci95": None, "prob_a_better": None, "p_value": None}
    out |= {"paired_fraction": None, "paired_fraction_ci95": None, "fraction": FRACTION_NAME, "test": TEST_NAME}
    if len(d) == 0:
        return {**out, "note": "no seed of both models has a finite value"}
    out["median_diff"] = float(np.median(d))
    wins = float(np.sum(d < 0) + 0.5 * np.sum(d == 0))
    out["paired_fraction"], out["paired_fraction_ci95"] = wins / len(d), wilson_ci(wins, len(d))
    out["prob_a_better"] = float(stats.mannwhitneyu(b, a).statistic / (len(a) * len(b)))
    if len(d) < 2:
        return {**out, "note": "a confidence interval and a test need at least 2 paired seeds"}
    out["diff_ci95"] = bootstrap_ci(d, np.median)
    out["p_value"] = 1.0 if np.all(d == 0) else float(stats.wilcoxon(a, b).pvalue)
    return out
