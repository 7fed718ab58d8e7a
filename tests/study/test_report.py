"""Reports from planted Results: divergence handling and verdicts computed from data."""

import numpy as np
import pytest

from rnnjax.core.config import Config
from rnnjax.core.train import History
from rnnjax.study import notebook, report
from rnnjax.study.metrics import forecast_rmse, metric_rows
from rnnjax.study.results import Result, Timing

EPOCHS, HORIZON = 10, 5
TRUTH = np.linspace(0, 1, HORIZON)


def planted(cell, seeds, forecast_offsets, loss_scale=1.0, params=100, diverge=(), amplitude=None):
    cfg = Config(cell=cell, seeds=seeds, epochs=EPOCHS, horizon=HORIZON)
    decay = np.exp(-np.arange(EPOCHS) / 3)
    loss = loss_scale * np.outer(1 + 0.1 * np.arange(seeds), decay)
    val = loss / 2
    amplitude = np.ones(seeds) if amplitude is None else np.asarray(amplitude)
    forecast = amplitude[:, None] * TRUTH + np.asarray(forecast_offsets)[:, None]
    diverged_epoch = np.zeros(seeds, int)
    for s in diverge:
        loss[s, 4:] = np.nan
        diverged_epoch[s] = 5
    weights = {"w": np.zeros((seeds, params))}  # a model of `params` parameters
    timing = Timing(1.0, 2.0, 0.5)
    return Result(cfg, weights, History(loss, val), diverged_epoch, forecast, np.zeros(20), TRUTH, timing)


def test_a_diverged_seed_is_counted_and_excluded():
    ok = planted("gru", 5, [0.1, 0.2, 0.3, 0.4, 0.5])
    bad = planted("gru", 5, [0.1, 0.2, 0.3, 0.4, 0.5], diverge=[2])
    s_ok, s_bad = report.model_summary(ok), report.model_summary(bad)
    assert s_bad["diverged"] == 1 and s_bad["diverged_seeds"] == [2] and s_bad["diverged_epochs"] == [5]
    assert s_bad["forecast_rmse"]["n"] == 4
    kept = forecast_rmse(bad)[[0, 1, 3, 4]]
    assert s_bad["forecast_rmse"]["median"] == pytest.approx(np.median(kept))
    assert s_bad["final_loss"]["median"] == pytest.approx(np.median(bad.loss[[0, 1, 3, 4], -1]))
    assert s_ok["forecast_rmse"]["n"] == 5
    rows = metric_rows({"gru": bad})
    assert [r["diverged"] for r in rows] == [False, False, True, False, False]
    assert [r["diverged_epoch"] for r in rows] == [0, 0, 5, 0, 0]
    assert all(np.isfinite(v) for k, v in s_bad["final_loss"].items() if k in ("median", "mean", "iqm"))


def claims_for(gru_offsets, lstm_offsets, gru_scale=1.0, lstm_scale=1.0, gru_amp=None, lstm_amp=None):
    n = len(gru_offsets)
    runs = {
        "gru": planted("gru", n, gru_offsets, gru_scale, params=5201, amplitude=gru_amp),
        "lstm": planted("lstm", n, lstm_offsets, lstm_scale, params=6761, amplitude=lstm_amp),
    }
    oscillation, learning, parameters = report.claims(runs, notebook.CLAIMS)
    return {"oscillation": oscillation, "learning": learning, "parameters": parameters}


def test_verdicts_follow_the_data():
    same_amplitude = "by oscillation amplitude: not supported"
    worse = claims_for(np.linspace(0.3, 0.4, 8), np.linspace(0.1, 0.2, 8))
    assert worse["oscillation"]["verdict"].startswith("by forecast RMSE: supported;")
    assert same_amplitude in worse["oscillation"]["verdict"]
    better = claims_for(np.linspace(0.1, 0.2, 8), np.linspace(0.3, 0.4, 8))
    assert better["oscillation"]["verdict"].startswith("by forecast RMSE: contradicted")
    mixed = claims_for([0.1, 0.4, 0.2, 0.3, 0.25, 0.15, 0.35, 0.3], [0.4, 0.1, 0.3, 0.2, 0.15, 0.25, 0.3, 0.35])
    assert mixed["oscillation"]["verdict"].startswith("by forecast RMSE: not supported")
    few = claims_for([0.3, 0.4, 0.5], [0.1, 0.2, 0.3])
    assert few["oscillation"]["verdict"].startswith("by forecast RMSE: undecided")
    # a flat GRU forecast against a full-size LSTM one: RMSE and amplitude disagree
    flat = claims_for(np.zeros(8), np.full(8, 0.9), gru_amp=np.linspace(0.01, 0.05, 8), lstm_amp=np.ones(8))
    assert flat["oscillation"]["verdict"] == (
        "by forecast RMSE: contradicted, the GRU's RMSE is lower; "
        "by oscillation amplitude: supported, the GRU's forecast is flatter"
    )
    assert worse["parameters"]["verdict"] == "supported" and "23.1% fewer" in worse["parameters"]["evidence"]


def test_slower_learning_lstm_is_detected():
    c = claims_for(np.full(8, 0.2), np.full(8, 0.2), gru_scale=1.0, lstm_scale=3.0)
    assert c["learning"]["verdict"].startswith("supported")
    assert "wall time" in c["learning"]["verdict"]
    same = claims_for(np.full(8, 0.2), np.full(8, 0.2))
    assert same["learning"]["verdict"].startswith("not supported")


def test_claims_need_both_cells():
    runs = {"gru": planted("gru", 3, [0.1, 0.2, 0.3]), "rnn": planted("rnn", 3, [0.1, 0.2, 0.3])}
    summary = report.summarize(runs, notebook.CLAIMS)
    assert summary["claims"] == [] and summary["comparison"]["a"] == "gru"


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("seeds, diverge", [(2, [0, 1]), (1, [])])
def test_a_fully_diverged_model_or_one_seed_still_gives_a_report(tmp_path, seeds, diverge):
    from rnnjax.core import data
    from rnnjax.study import grid, outputs

    context, truth = data.forecast_truth(Config())

    def full_run(cell, nan_seeds):
        loss = np.tile(np.exp(-np.arange(EPOCHS) / 3), (seeds, 1))
        loss[nan_seeds, 5:] = np.nan
        cfg = Config(cell=cell, seeds=seeds, epochs=EPOCHS)
        forecast = np.full((seeds, len(truth)), 0.1)
        epoch = np.where(np.isin(np.arange(seeds), nan_seeds), 6, 0)
        weights = {"w": np.zeros((seeds, 10))}
        return Result(cfg, weights, History(loss, loss / 2), epoch, forecast, context, truth, Timing(1, 1, 1))

    results = {"gru": [full_run("gru", diverge)], "lstm": [full_run("lstm", [])]}
    study = grid.Study({name: points[0].cfg for name, points in results.items()}, grid.make_grid(Config()))
    rec = outputs.record("experiment", study, "test")
    summary = outputs.write_experiment(tmp_path, rec, results, 1.0)  # the notebook's claims: its protocol
    assert summary["models"]["gru"]["diverged"] == len(diverge) and len(summary["claims"]) == 3
    assert all(c["verdict"].count("undecided") >= 1 for c in summary["claims"][:2])
    assert (tmp_path / "report.md").stat().st_size > 0 and (tmp_path / "forecast.png").stat().st_size > 0


def test_every_pair_is_compared_and_models_are_ranked():
    offsets = {"gru": 0.3, "lstm": 0.1, "rnn": 0.2, "mingru": None}
    runs = {}
    for cell, off in offsets.items():
        seeds_off = np.linspace(0, 0.05, 8) + (off if off is not None else 0.0)
        runs[cell] = planted(cell, 8, seeds_off, diverge=range(8) if off is None else ())
    summary = report.summarize(runs)
    pairs = [(c["a"], c["b"]) for c in summary["comparisons"]]
    assert pairs == [
        ("gru", "lstm"),
        ("gru", "rnn"),
        ("gru", "mingru"),
        ("lstm", "rnn"),
        ("lstm", "mingru"),
        ("rnn", "mingru"),
    ]
    tested = [c for c in summary["comparisons"] if c["p_value"] is not None]
    assert len(tested) == 3  # mingru diverged everywhere: no pairs to test
    assert all(c["p_holm"] >= c["p_value"] for c in tested)
    assert [r["model"] for r in summary["ranking"]["models"]] == ["lstm", "rnn", "gru", "mingru"]
    best = summary["ranking"]["models"][0]
    assert best["median"] == pytest.approx(np.median(forecast_rmse(runs["lstm"])))
    assert best["median_ci95"][0] <= best["median"] <= best["median_ci95"][1]
    assert summary["ranking"]["models"][-1]["median"] is None
    text = report.markdown(
        summary, {}, [], "cmd", {"backend": "cpu", "devices": ["cpu"], "versions": {"jax": "x", "flax": "y"}}
    )
    assert "## Ranking by median forecast RMSE" in text and "## Every pair on forecast_rmse" in text
    assert "| 1 | lstm | 8 |" in text


ENVIRONMENT = {"backend": "cpu", "devices": ["cpu"], "versions": {"jax": "x", "flax": "y"}}


def test_without_claims_the_headline_is_the_two_best_models():
    offsets = {"gru": 0.3, "lstm": 0.1, "rnn": 0.2}  # listed worst first
    runs = {cell: planted(cell, 8, np.linspace(0, 0.05, 8) + off) for cell, off in offsets.items()}
    summary = report.summarize(runs)
    cmp = summary["comparison"]
    assert summary["claims"] == [] and (cmp["a"], cmp["b"]) == ("lstm", "rnn") and "two best" in cmp["chosen"]
    text = report.markdown(summary, {}, [], "cmd", ENVIRONMENT)
    assert "## lstm vs rnn on forecast_rmse" in text and "| claim |" not in text
    paired = report.summarize(runs, notebook.CLAIMS)["comparison"]  # the pair the claims compare
    assert (paired["a"], paired["b"]) == ("gru", "lstm") and paired["chosen"] == "the two models the claims compare"


def test_a_claim_is_rendered_from_its_fields():
    runs = {"gru": planted("gru", 8, np.linspace(0.3, 0.4, 8)), "lstm": planted("lstm", 8, np.linspace(0.1, 0.2, 8))}

    def judge(runs):
        errors = [forecast_rmse(runs[name]) for name in ("lstm", "gru")]
        words = {"by": "error", "if_a_worse": "supported", "if_a_better": "contradicted"}
        medians = [report.median(v) for v in errors]
        cmp = report.paired("lstm", "gru", *errors, quantity="error", medians=medians, a_better="LSTM wins", **words)
        return [{"claim": "The LSTM is worse.", "comparisons": [cmp], "facts": ["planted"], "n": 8}]

    (claim,) = report.claims(runs, report.Claims("My claims", ("lstm", "gru"), judge))
    assert claim["verdict"] == "by error: contradicted"
    assert claim["evidence"].startswith("error: median lstm 0.15 vs gru 0.35; median paired difference -0.2 (95% CI")
    assert "LSTM wins in 1 of the seed pairs (paired fraction, Wilson 95% CI [0.676, 1]), Wilcoxon" in claim[
        "evidence"
    ] and claim["evidence"].endswith(". planted")
    assert list(claim) == ["claim", "verdict", "evidence", "n", "comparisons"]
    assert claim["comparisons"][0]["p_value"] < report.ALPHA


def test_the_notebooks_claims_pair_seeds_not_seed_channels():
    """Several channels: a claim compares each seed's mean over the channels, seed by seed."""
    cfg = Config(series="lorenz", channels="x,z", protocol="notebook", seeds=3, epochs=EPOCHS, horizon=HORIZON)
    truth = np.stack([TRUTH, 2 * TRUTH], axis=-1)

    def run(cell, offsets):
        forecast = truth + np.asarray(offsets, float)[:, None, None]
        history = History(np.ones((3, EPOCHS)), np.ones((3, EPOCHS)))
        timing = Timing(1.0, 2.0, 0.5)
        return Result(cfg.replace(cell=cell), {"w": np.zeros((3, 4))}, history, np.zeros(3, int), forecast,
                      np.zeros((20, 2)), truth, timing)  # fmt: skip

    claim = notebook.reproduces_worse(run("gru", [0.3, 0.4, 0.5]), run("lstm", [0.1, 0.1, 0.2]))
    rmse = claim["comparisons"][0]
    assert rmse["pairs"] == 3  # three seeds, not six seed-channel pairs
    assert rmse["medians"][0] == pytest.approx(0.4)  # the mean over the channels of each channel's RMSE


def test_a_metric_returning_the_wrong_count_is_refused_naming_it(monkeypatch):
    from rnnjax.study import metrics

    run = planted("gru", 4, [0.1, 0.2, 0.3, 0.4])
    monkeypatch.setitem(metrics.METRICS, "mine", metrics.Metric(lambda r: np.zeros(5), "mine", True))
    with pytest.raises(metrics.MetricError, match=r"metric 'mine' returned float64 values of shape \(5,\)"):
        metric_rows({"gru": run})  # metrics.csv cut it to the 4 seeds before
