"""The baselines against independent computations: plain NumPy for the naive forecasts,
least squares on the same design matrix (and statsmodels' AutoReg) for the AR, and each
error metric against its definition."""

import numpy as np
import pytest

from rnnjax.core import data
from rnnjax.core.config import Config
from rnnjax.study import baselines, metrics

RNG = np.random.default_rng(3)
HISTORY = np.cumsum(RNG.standard_normal(60)) + 10 * np.sin(np.arange(60) * 2 * np.pi / 7)


def test_naive_seasonal_drift_and_mean_by_hand():
    steps = 10
    np.testing.assert_array_equal(baselines.naive(HISTORY, steps), [HISTORY[-1]] * steps)
    want = [HISTORY[len(HISTORY) - 7 + (h % 7)] for h in range(steps)]  # y_{T+h} = y_{T+h-7k}
    np.testing.assert_array_equal(baselines.seasonal(HISTORY, steps, season=7), want)
    slope = (HISTORY[-1] - HISTORY[0]) / (len(HISTORY) - 1)
    np.testing.assert_allclose(baselines.drift(HISTORY, steps), HISTORY[-1] + slope * np.arange(1, 11))
    np.testing.assert_allclose(baselines.mean(HISTORY, steps), [HISTORY.mean()] * steps)
    assert baselines.applicable(0) == ["naive", "drift", "mean", "ar", "arima", "ets"]
    assert "seasonal" in baselines.applicable(7)


def test_ar_is_least_squares_on_the_training_windows_rolled_out():
    window, n_fit, steps = 5, 40, 8
    rows = [np.r_[1.0, HISTORY[i : i + window]] for i in range(n_fit)]
    coef = np.linalg.lstsq(np.array(rows), HISTORY[window : window + n_fit], rcond=None)[0]
    state, want = list(HISTORY[-window:]), []
    for _ in range(steps):
        want.append(coef[0] + np.dot(coef[1:], state[-window:]))
        state.append(want[-1])
    got = baselines.ar(HISTORY, steps, window=window, n_fit=n_fit)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_ar_equals_statsmodels_autoreg():
    ar_model = pytest.importorskip("statsmodels.tsa.ar_model")
    window, steps = 5, 8
    n_fit = len(HISTORY) - window  # AutoReg fits every window of the history it is given
    fit = ar_model.AutoReg(HISTORY, lags=window, trend="c").fit()
    want = fit.predict(start=len(HISTORY), end=len(HISTORY) + steps - 1)
    np.testing.assert_allclose(baselines.ar(HISTORY, steps, window=window, n_fit=n_fit), want, rtol=1e-8)


def test_error_metrics_by_definition():
    truth = np.array([1.0, -2.0, 3.0, 0.0])
    forecast = np.array([[1.5, -2.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(metrics.mae(forecast, truth), [0.375, 1.5])
    np.testing.assert_allclose(metrics.rmse(forecast, truth), np.sqrt([1.25 / 4, 14 / 4]))
    want = [200 / 4 * (0.5 / 2.5 + 1.0 / 5.0), 200 / 4 * 3]  # 0/0 counts 0
    np.testing.assert_allclose(metrics.smape(forecast, truth), want)
    history = np.array([0.0, 1.0, 3.0, 2.0])  # in-sample naive MAE: (1 + 2 + 1) / 3
    np.testing.assert_allclose(metrics.mase(forecast, truth, history), np.array([0.375, 1.5]) / (4 / 3))
    assert np.isnan(metrics.mase(forecast, truth, np.ones(5))).all()


def test_baselines_of_a_held_out_config_see_only_the_values_before_its_origin():
    y = np.sin(np.arange(120) / 4.0) * 20 + 50
    cfg = Config(data=y, protocol="holdout", test=24, season=25, window=10)
    got = baselines.of(cfg)
    assert set(got) == {"naive", "seasonal", "drift", "mean", "ar", "arima", "ets"} and all(
        len(v) == 24 for v in got.values()
    )
    np.testing.assert_array_equal(data.history(cfg), y[:96])
    np.testing.assert_array_equal(got["naive"], [y[95]] * 24)
    np.testing.assert_array_equal(got["seasonal"], y[96 - 25 : 96 - 1])
    assert baselines.of(Config()) == {}  # the notebook's protocol scores none: its forecast is in-sample


def test_arima_and_ets_choose_their_form_by_aic():
    """The lowest-AIC fit's forecast, found here by a loop of our own over the same forms."""
    pytest.importorskip("statsmodels")
    import warnings

    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aics = {o: ARIMA(HISTORY, order=o, trend="c" if o[1] == 0 else "n").fit() for o in baselines.ARIMA_ORDERS}
        best = min(aics.values(), key=lambda f: f.aic)
        ets = [
            ExponentialSmoothing(HISTORY, trend=t, seasonal=s, seasonal_periods=7 if s else None).fit()
            for t in (None, "add")
            for s in (None, "add")
        ]
    np.testing.assert_allclose(baselines.arima(HISTORY, 6), best.forecast(6), rtol=1e-10)
    want = min(ets, key=lambda f: f.aic).forecast(6)
    np.testing.assert_allclose(baselines.ets(HISTORY, 6, season=7), want, rtol=1e-10)
    assert {"arima", "ets"} <= set(baselines.applicable(7))


def test_a_baseline_without_its_extra_is_refused_naming_it(monkeypatch):
    monkeypatch.setattr(baselines, "_statsmodels_installed", lambda: False)
    assert "arima" not in baselines.applicable(7)
    why = baselines.refusal(["naive", "arima"], season=7)
    assert why == "--baselines arima needs statsmodels, an optional extra: pip install -e '.[baselines]'"


def test_a_season_the_history_holds_less_than_twice_is_not_fitted_seasonally():
    """statsmodels needs two full cycles: with fewer, ETS chooses among the other forms
    instead of failing after training (the run could then never write its report)."""
    pytest.importorskip("statsmodels")
    got = baselines.ets(HISTORY, 6, season=40)  # 60 values: 1.5 cycles
    np.testing.assert_allclose(got, baselines.ets(HISTORY, 6, season=0), rtol=1e-12)


def test_an_underdetermined_ar_is_not_a_baseline():
    """AR(window) has window + 1 coefficients: with no more training windows, least squares
    would interpolate them, and that AR would be the bar every model is held to."""
    assert "ar" not in baselines.applicable(0, n_fit=21, window=20) and "ar" in baselines.applicable(0, 22, 20)
    assert baselines.refusal(["ar"], 0, n_fit=15, window=20) == (
        "--baselines ar needs more training windows (15) than its 21 coefficients"
    )


def test_ar_of_several_channels_equals_statsmodels_var():
    tsa = pytest.importorskip("statsmodels.tsa.api")
    history = np.column_stack([HISTORY, np.roll(HISTORY, 3) + RNG.standard_normal(60)])
    window, steps = 3, 6
    n_fit = len(history) - window  # VAR fits every window of the history it is given
    fit = tsa.VAR(history).fit(window, trend="c")
    want = fit.forecast(history[-window:], steps)
    got = baselines.forecasts(history, steps, 0, window, n_fit, ["ar", "naive"], target=(0, 1))
    np.testing.assert_allclose(got["ar"], want, rtol=1e-8)
    np.testing.assert_array_equal(got["naive"], np.tile(history[-1], (steps, 1)))  # each channel its own


def test_several_channels_score_the_mean_of_each_channels_metric():
    rng = np.random.default_rng(2)
    forecast, truth, history = rng.standard_normal((4, 5, 2)), rng.standard_normal((5, 2)), rng.standard_normal((30, 2))
    for name in ("forecast_rmse", "forecast_mae", "mase"):
        each = [metrics.METRICS[name].of_forecast(forecast[..., k], truth[:, k], history[:, k]) for k in range(2)]
        np.testing.assert_allclose(metrics.score(name, forecast, truth, history), np.mean(each, axis=0))
    # MASE: each channel scaled by its own naive error, not the pooled one
    scale = [np.mean(np.abs(np.diff(history[:, k]))) for k in range(2)]
    by_hand = np.mean([np.mean(np.abs(forecast[..., k] - truth[:, k]), axis=1) / scale[k] for k in range(2)], axis=0)
    np.testing.assert_allclose(metrics.score("mase", forecast, truth, history), by_hand)
