"""What the models see of a config's series: the observed values (the clean series plus
any observation noise), scaled as `normalize` says, cut into the notebook's sliding
windows and split as Keras's `validation_split`; and the forecast's context and truth.

The series themselves are `rnnjax.core.series` (SERIES is its registry). One channel is a
1-D array [T]; several are [T, C], each scaled by its own statistics, and the models
predict the `targets` channels of the next step from every channel of the window.
"""

from typing import NamedTuple

import numpy as np

from rnnjax.core.config import RUN, Config, knobs
from rnnjax.core.series import SERIES, clean, grid, normalization, targets  # noqa: F401  (SERIES, grid: as before)


class Windows(NamedTuple):
    """Inputs and one-step-shifted targets, split as Keras `validation_split` does."""

    x_train: np.ndarray  # [n_train, window, channels]
    y_train: np.ndarray  # [n_train, window, targets]
    x_val: np.ndarray  # [n_val, window, channels]
    y_val: np.ndarray


class Scale(NamedTuple):
    """model units = (data units - mean) / sd: floats for one channel, [C] for several."""

    mean: float | np.ndarray
    sd: float | np.ndarray


def series(cfg: Config, n: int | None = None) -> np.ndarray:
    """The clean series' first n values (default n_points), float64, as the notebook computes it."""
    return clean(cfg, n)


def observed(cfg: Config, n: int | None = None) -> np.ndarray:
    """What the models are given: the series plus N(0, noise^2) noise drawn from noise_seed
    alone (value i's noise does not depend on n), in the data's units."""
    y = clean(cfg, n)
    if cfg.noise == 0:
        return y
    return y + cfg.noise * np.random.default_rng(cfg.noise_seed).standard_normal(y.shape)  # row i's: drawn i-th


def scale(cfg: Config) -> Scale | None:
    """The z-score of the values the training windows hold (y[start : start + n_train + window]: never
    the validation windows' own or the forecast's later values); None without normalize."""
    if normalization(cfg) == "none":
        return None
    seen = training_values(cfg)
    if seen.ndim == 2:  # each channel its own
        return Scale(*(np.array([f(seen[:, c]) for c in range(seen.shape[1])]) for f in (np.mean, np.std)))
    return Scale(float(np.mean(seen)), float(np.std(seen)))  # Config refuses constant values


def training_values(cfg: Config) -> np.ndarray:
    """The observed values the training windows hold: y[start : start + n_train + window]."""
    return observed(cfg)[cfg.start : cfg.start + cfg.n_train + cfg.window]


def to_model(y: np.ndarray, s: Scale | None) -> np.ndarray:
    return y if s is None else (y - s.mean) / s.sd


def to_data(y: np.ndarray, s: Scale | None) -> np.ndarray:
    return y if s is None else y * s.sd + s.mean


def windows(y: np.ndarray, window: int, target: tuple[int, ...] = (0,)) -> tuple[np.ndarray, np.ndarray]:
    """r_x[i] = y[i:i+window], r_y[i] = y[i+1:i+window+1], shaped [n, window, 1] as in the
    seed; several channels: [n, window, C] and the `target` channels [n, window, K]."""
    n = len(y) - window
    idx = np.arange(n)[:, None] + np.arange(window)[None, :]
    if y.ndim == 2:
        return y[idx], y[idx + 1][..., list(target)]
    return y[idx][..., None], y[idx + 1][..., None]


def split(cfg: Config) -> Windows:
    """All windows of the observed values the models may see (cfg.seen: under holdout, not
    the test span), scaled, as float32; the last n_val are validation, never shuffled."""
    seen = to_model(observed(cfg)[cfg.start : cfg.start + cfg.seen], scale(cfg))
    r_x, r_y = windows(seen, cfg.window, targets(cfg))
    r_x, r_y = r_x.astype(np.float32), r_y.astype(np.float32)
    k = cfg.n_train
    return Windows(r_x[:k], r_y[:k], r_x[k:], r_y[k:])


def forecast_truth(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(context, truth) of the closed-loop forecast from cfg.origin, in the data's units.

    The context is the `window` observed values before the origin (noise included); the
    rollout predicts y[origin : origin + steps], scored against the clean series. Notebook:
    the origin follows the first target window y[1 : window+1], and the default 180 steps
    run one sample past the 200 stored points, so the truth is the computed series extended
    on the same grid (recorded data must hold it). Holdout: the origin is the first held-out
    value, and the truth is the test span. Several channels: the context [window, C], the
    truth of the target channels [steps, K].
    """
    origin, n = cfg.origin, cfg.origin + cfg.steps
    context, truth = observed(cfg, n)[origin - cfg.window : origin], clean(cfg, n)[origin:]
    return context, (truth[:, list(targets(cfg))] if truth.ndim == 2 else truth)


def known(cfg: Config) -> np.ndarray | None:
    """Several channels: every channel's observed values over the forecast's horizon
    [steps, C], from which the rollout reads the covariates (the channels it does not
    predict); None for one channel."""
    values = observed(cfg, cfg.origin + cfg.steps)
    return values[cfg.origin :] if values.ndim == 2 else None


def history(cfg: Config) -> np.ndarray:
    """Every observed value before the forecast origin (data units): what a baseline may
    use, and the in-sample scale of MASE."""
    return observed(cfg, cfg.origin)


def series_groups(cfg: Config, runs) -> list[tuple[Config, np.ndarray]]:
    """The runs (a train.Runs: [R] arrays named as the config's series knobs) grouped by the
    series they see: [(the config of that series, the runs' indices)]."""
    names = knobs(type(cfg), RUN, series=True)
    # a knob the runs do not carry has the config's value in every run, as in a grid
    columns = [runs.knobs.get(k, np.full(runs.count, getattr(cfg, k))) for k in names]
    values_RxK = np.stack([np.asarray(c, np.float64) for c in columns], axis=1)
    unique, which = np.unique(values_RxK, axis=0, return_inverse=True)
    which = np.ravel(which)
    return [
        (
            cfg.replace(**{k: type(getattr(cfg, k))(v) for k, v in zip(names, row, strict=True)}),
            np.flatnonzero(which == g),
        )
        for g, row in enumerate(unique)
    ]
