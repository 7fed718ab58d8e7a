"""The seed notebook's claims about the GRU and the LSTM, judged from a run's Results: the
report's plug-in (`CLAIMS`), which experiments/gru_vs_lstm.py passes to its outputs.

1. The GRU reproduces the damped oscillation worse than the LSTM (by forecast RMSE, and by
   how far the forecast's amplitude is from the truth's).
2. The LSTM takes more time to learn (epochs until the training loss reaches a level).
3. The GRU has about 20% fewer parameters.
"""

import numpy as np

from rnnjax.study import report
from rnnjax.study.metrics import epochs_to_reach, final_loss, value
from rnnjax.study.results import Result

ABOUT_20_PERCENT = (0.15, 0.25)  # what "about 20% fewer parameters" admits


def _what(cfg) -> str:
    """The notebook's words for its own series; the series' name for any other."""
    from rnnjax.core.series import describe

    if cfg.series == "damped_cos" and not cfg.data and not cfg.noise:
        return "the damped oscillation"
    return f"the series ({describe(cfg)})"


NAMES = {"gru": "GRU", "lstm": "LSTM"}  # as the notebook writes them


def _paired(a: str, b: str, tested: list, shown: list | None = None, **fields) -> dict:
    """Model a against model b (lower is better) on the per-seed values `tested`, quoting the
    medians of `shown` (default: the tested values themselves)."""
    medians = [report.median(v) for v in (tested if shown is None else shown)]
    return report.paired(a, b, *tested, names=[NAMES[a], NAMES[b]], medians=medians, **fields)


def reproduces_worse(gru: Result, lstm: Result) -> dict:
    """Judged twice: by forecast RMSE, and by |log amplitude ratio| (a flat forecast can have
    the lower RMSE while an oscillating one out of phase has the right size)."""
    errors = [r.masked(value(r, "forecast_rmse")) for r in (gru, lstm)]
    worse, better = "supported", "contradicted, the GRU's RMSE is lower"
    rmse = _paired(
        "gru", "lstm", errors, quantity="forecast RMSE", by="forecast RMSE", if_a_worse=worse, if_a_better=better
    )
    ratio = [r.masked(value(r, "amplitude_ratio")) for r in (gru, lstm)]
    amplitude = _paired(
        "gru",
        "lstm",
        [np.abs(np.log(v)) for v in ratio],
        ratio,
        quantity="Amplitude (forecast std / truth std, 1 is right)",
        on="|log amplitude|",
        a_better="a GRU seed is closer",
        by="oscillation amplitude",
        if_a_worse="supported, the GRU's forecast is flatter",
        if_a_better="contradicted, the GRU's is closer",
    )
    return {"claim": f"The GRU reproduces {_what(gru.cfg)} worse than the LSTM.", "comparisons": [rmse, amplitude]}


def learns_slower(gru: Result, lstm: Result) -> dict:
    """Epochs until the training loss first reaches a level both models reach at the median."""
    levels = [report.median(r.masked(final_loss(r))) for r in (gru, lstm)]
    level = None if None in levels else max(levels)
    reach = np.inf if level is None else level  # no level: no pair, the verdict is undecided
    epochs = [r.masked(epochs_to_reach(r.loss, reach)) for r in (lstm, gru)]
    if level is None:
        epochs = [np.full_like(v, np.nan) for v in epochs]
    speed = _paired(
        "lstm",
        "gru",
        epochs,
        quantity=f"epochs until the training loss first reaches {report.fmt(level)}",
        aside="(a seed that never does counts as epochs + 1)",
        a_better="an LSTM seed needs fewer epochs",
        if_a_worse="supported",
        if_a_better="contradicted: the LSTM learns in fewer epochs",
    )
    lstm_s, gru_s = (r.timing.train_s / (r.cfg.epochs * r.cfg.seeds) for r in (lstm, gru))
    wall = lstm_s / gru_s
    return {
        "claim": "The LSTM takes more time to learn.",
        "comparisons": [speed],
        "statements": [f"per epoch the LSTM's training took {wall:.2f}x the GRU's wall time in this run"],
        "level": level,
        "wall_time_ratio_lstm_over_gru": float(wall),
    }


def fewer_parameters(gru: Result, lstm: Result) -> dict:
    fewer = 1 - gru.n_params / lstm.n_params
    lo, hi = ABOUT_20_PERCENT
    return {
        "claim": "The GRU has about 20% fewer parameters.",
        "statements": ["supported" if lo <= fewer <= hi else "not supported"],
        "facts": [f"GRU {gru.n_params:,} vs LSTM {lstm.n_params:,} parameters: {fewer:.1%} fewer"],
    }


def judge(runs: dict[str, Result]) -> list[dict]:
    """The three claims on a run with a `gru` and an `lstm` model."""
    gru, lstm = runs["gru"], runs["lstm"]
    return [reproduces_worse(gru, lstm), learns_slower(gru, lstm), fewer_parameters(gru, lstm)]


CLAIMS = report.Claims("The seed notebook's claims", ("gru", "lstm"), judge)
