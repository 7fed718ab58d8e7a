"""Classical forecasts scored beside the models on exactly the same span, origin and units:
what a reviewer first asks a recurrent cell to beat.

Each baseline sees only the values before the forecast origin (`history`, in the data's
units, observation noise included, as the models see them) and returns `steps` forecasts.
BASELINES says what each needs: `season` (a period in samples) or the model's window.

Several channels: each univariate baseline forecasts each predicted channel from its own
history; the AR reads every channel, as the models do (a VAR on the window, with the known
covariates' observed values fed over the horizon).
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class Baseline(NamedTuple):
    fn: Callable[..., np.ndarray]  # (history_T, steps, season, window, n_fit) -> [steps]
    label: str
    needs_season: bool = False
    extra: str = ""  # the optional extra whose package it needs (statsmodels: `baselines`)
    # reads every channel ([T, C] history; `target`, `known` keyword arguments) and returns
    # [steps, K]; False: univariate, run on each predicted channel alone
    multichannel: bool = False


EXTRA_INSTALL = "pip install -e '.[baselines]'"


def _statsmodels_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("statsmodels") is not None


def naive(history: np.ndarray, steps: int, **_) -> np.ndarray:
    """The last value, held: y_{T+h} = y_T."""
    return np.full(steps, history[-1])


def seasonal(history: np.ndarray, steps: int, season: int, **_) -> np.ndarray:
    """The value one season earlier: y_{T+h} = y_{T+h-m(k+1)}, k = floor((h-1)/m)."""
    last = history[-season:]
    return last[np.arange(steps) % season]


def drift(history: np.ndarray, steps: int, **_) -> np.ndarray:
    """The line through the first and last values: y_T + h (y_T - y_1) / (T - 1)."""
    slope = (history[-1] - history[0]) / max(len(history) - 1, 1)
    return history[-1] + slope * np.arange(1, steps + 1)


def mean(history: np.ndarray, steps: int, **_) -> np.ndarray:
    """The mean of every value before the origin."""
    return np.full(steps, np.mean(history))


def ar_design(y: np.ndarray, window: int, n_fit: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, target) of the models' training windows: row i is [1, y_i .. y_{i+window-1}] and
    its target y_{i+window}, for i < n_fit (the windows the models train on)."""
    idx = np.arange(n_fit)[:, None] + np.arange(window)[None, :]
    return np.column_stack([np.ones(n_fit), y[idx]]), y[np.arange(n_fit) + window]


def ar(history: np.ndarray, steps: int, window: int, n_fit: int, target=None, known=None, **_) -> np.ndarray:
    """A linear autoregression on the last `window` values with an intercept, fitted by least
    squares on the models' own training windows, then rolled out closed loop from the
    origin: the linear analogue of the recurrent models. Several channels ([T, C]): each
    `target` channel regressed on every channel's window (a VAR), the other channels read
    from `known` ([steps, C]) over the horizon: [steps, K]."""
    if history.ndim == 2:
        return _var(history, steps, window, n_fit, list(target), known)
    x, target = ar_design(history, window, n_fit)
    coef = np.linalg.lstsq(x, target, rcond=None)[0]
    state = list(history[-window:])
    out = np.empty(steps)
    for h in range(steps):
        out[h] = coef[0] + np.dot(coef[1:], state[-window:])
        state.append(out[h])
    return out


def _var(history_TxC: np.ndarray, steps: int, window: int, n_fit: int, target: list[int], known_NxC) -> np.ndarray:
    """`ar` of several channels: row i of the design is [1, y_i .. y_{i+window-1}] with each
    y a row of C channels (time-major), its target y_{i+window}'s `target` channels."""
    idx = np.arange(n_fit)[:, None] + np.arange(window)[None, :]
    x = np.column_stack([np.ones(n_fit), history_TxC[idx].reshape(n_fit, -1)])
    coef = np.linalg.lstsq(x, history_TxC[np.arange(n_fit) + window][:, target], rcond=None)[0]
    state = history_TxC[-window:].copy()
    out = np.empty((steps, len(target)))
    for h in range(steps):
        out[h] = coef[0] + state.ravel() @ coef[1:]
        row = known_NxC[h].copy() if known_NxC is not None else np.empty(state.shape[1])
        row[target] = out[h]
        state = np.vstack([state[1:], row])
    return out


ARIMA_ORDERS = [(p, d, q) for p in range(3) for d in range(2) for q in range(2)]


def arima(history: np.ndarray, steps: int, **_) -> np.ndarray:
    """statsmodels' ARIMA(p, d, q), p <= 2, d <= 1, q <= 1 (with a constant when d = 0), the
    order of lowest AIC fitted on the history it is given (the span the models saw)."""
    from statsmodels.tsa.arima.model import ARIMA

    forms = [lambda o=o: ARIMA(history, order=o, trend="c" if o[1] == 0 else "n").fit() for o in ARIMA_ORDERS]
    return _lowest_aic(forms).forecast(steps)


def _lowest_aic(forms):
    """The fit of lowest finite AIC among `forms` (callables that fit one form each); a form
    that fails to fit is passed over, as a form of infinite AIC would be."""
    import warnings

    fits = []
    with warnings.catch_warnings():  # convergence chatter of the forms that lose
        warnings.simplefilter("ignore")
        for fit in forms:
            try:
                fits.append(fit())
            except (ValueError, np.linalg.LinAlgError):
                continue
    fits = [f for f in fits if np.isfinite(f.aic)]
    if not fits:
        raise ValueError("no form could be fitted")
    return min(fits, key=lambda f: f.aic)


def ets(history: np.ndarray, steps: int, season: int = 0, **_) -> np.ndarray:
    """statsmodels' Holt-Winters exponential smoothing: an additive trend and (with a season
    the history holds at least twice, as statsmodels needs) additive seasonality, each on or
    off, whichever has the lowest AIC."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonals = (None, "add") if season and len(history) >= 2 * season + 10 else (None,)
    forms = [
        lambda t=t, s=s: ExponentialSmoothing(
            history, trend=t, seasonal=s, seasonal_periods=season if s else None
        ).fit()
        for t in (None, "add")
        for s in seasonals
    ]
    return _lowest_aic(forms).forecast(steps)


BASELINES: dict[str, Baseline] = {
    "naive": Baseline(naive, "naive (last value)"),
    "seasonal": Baseline(seasonal, "seasonal naive (one season earlier)", needs_season=True),
    "drift": Baseline(drift, "drift (first to last value)"),
    "mean": Baseline(mean, "mean of the history"),
    "ar": Baseline(ar, "AR(window), least squares on the training windows", multichannel=True),
    "arima": Baseline(arima, "ARIMA, order by AIC (statsmodels)", extra="baselines"),
    "ets": Baseline(ets, "exponential smoothing, form by AIC (statsmodels)", extra="baselines"),
}


def applicable(season: int, n_fit: int | None = None, window: int | None = None) -> list[str]:
    """The baselines that apply: all, less `seasonal` without a season, `ar` with no more
    training windows than its window + 1 coefficients (least squares would interpolate), and
    those whose optional extra is not installed (the report lists the baselines it scored)."""
    installed = _statsmodels_installed()
    few = n_fit is not None and window is not None and n_fit <= window + 1
    return [
        name
        for name, b in BASELINES.items()
        if (season or not b.needs_season) and (installed or not b.extra) and not (few and name == "ar")
    ]


def forecasts(
    history: np.ndarray,
    steps: int,
    season: int,
    window: int,
    n_fit: int,
    names: list[str] | None = None,
    target: tuple[int, ...] = (),
    known: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """{baseline: [steps]} for `names` (default every baseline that applies); several
    channels (history [T, C]): {baseline: [steps, K]} of the `target` channels, `known`
    [steps, C] holding the covariates' values over the horizon."""
    kwargs = {"season": season, "window": window, "n_fit": n_fit}
    chosen = applicable(season, n_fit, window) if names is None else names
    history = np.asarray(history, np.float64)
    if history.ndim == 1:
        return {name: BASELINES[name].fn(history, steps, **kwargs) for name in chosen}
    out = {}
    for name in chosen:
        fn = BASELINES[name].fn
        if BASELINES[name].multichannel:
            out[name] = fn(history, steps, target=target, known=known, **kwargs)
        else:
            out[name] = np.stack([fn(history[:, c], steps, **kwargs) for c in target], axis=-1)
    return out


def of(cfg, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The baselines' forecasts for a held-out config (`names`, default every one that
    applies): from its origin, over its steps, fitted on what the models see (none under the
    notebook's protocol, whose forecast lies inside the span the models trained on)."""
    from rnnjax.core import data as data_lib
    from rnnjax.core.series import season

    if cfg.forecast_protocol == "notebook":
        return {}
    # fitted on the span the models see (a backtest origin's slides); MASE's scale uses all
    history = data_lib.history(cfg)[cfg.start :]
    channels = {"target": data_lib.targets(cfg), "known": data_lib.known(cfg)} if history.ndim == 2 else {}
    return forecasts(history, cfg.steps, season(cfg), cfg.window, cfg.n_train, names, **channels)


def refusal(names: list[str], season: int, n_fit: int | None = None, window: int | None = None) -> str | None:
    """Why these baseline names cannot be scored (one line), or None."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown or len(set(names)) != len(names) or not names:
        return f"--baselines {','.join(names)!r} is not allowed: distinct names from {', '.join(BASELINES)}"
    if not season and any(BASELINES[n].needs_season for n in names):
        return "--baselines seasonal needs a season: --season P (or a series that has its own, e.g. sunspots)"
    if "ar" in names and "ar" not in applicable(season, n_fit, window):
        return f"--baselines ar needs more training windows ({n_fit}) than its {window + 1} coefficients"
    missing = [n for n in names if BASELINES[n].extra and not _statsmodels_installed()]
    if missing:
        return f"--baselines {','.join(missing)} needs statsmodels, an optional extra: {EXTRA_INSTALL}"
    return None
