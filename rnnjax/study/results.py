"""What a study keeps of each model at each grid point: plain NumPy arrays with a leading
seed axis (trained parameters, per-epoch histories, forecasts), so that analysis code
(metrics, statistics, figures) never needs JAX."""

from typing import Any, NamedTuple

import numpy as np

from rnnjax.core.config import Config


class Timing(NamedTuple):
    compile_s: float  # tracing and XLA compilation of the training program(s)
    train_s: float  # running them, every run and epoch
    forecast_s: float  # compiling and running the rollouts

    def seed_epochs_per_s(self, cfg: Config) -> float:
        return cfg.seeds * cfg.epochs / self.train_s if self.train_s else float("nan")

    def s_per_epoch(self, cfg: Config) -> float:
        """Wall time of one epoch of all seeds together."""
        return self.train_s / cfg.epochs

    def __add__(self, other: "Timing") -> "Timing":
        return Timing(*(a + b for a, b in zip(self, other, strict=True)))


class Result(NamedTuple):
    """One model at one grid point, every seed: `cfg` holds the point's values."""

    cfg: Config
    params: Any  # the trained parameters, a pytree of [seeds, ...] NumPy arrays
    history: Any  # core.train.History of [seeds, epochs] arrays (loss, val_loss, ...)
    diverged_epoch: np.ndarray  # [seeds] 1-based epoch whose loss or params became non-finite; 0 if none
    forecast: np.ndarray  # [seeds, horizon]
    context: np.ndarray  # [window] the true values the rollout starts from
    truth: np.ndarray  # [horizon]
    timing: Timing  # the model's, over the whole study

    @property
    def loss(self) -> np.ndarray:
        return self.history.loss

    @property
    def val_loss(self) -> np.ndarray:
        return self.history.val_loss

    @property
    def n_params(self) -> int:
        """Parameters of one model."""
        return sum(int(np.prod(np.shape(leaf)[1:])) for leaf in _leaves(self.params))

    @property
    def diverged(self) -> np.ndarray:
        """[seeds] bool: training diverged, or a per-epoch value or the forecast is non-finite."""
        arrays = (*self.history, self.forecast)
        finite = np.logical_and.reduce([np.isfinite(a).all(axis=1) for a in arrays])
        return (self.diverged_epoch > 0) | ~finite

    def masked(self, values: np.ndarray, drop: bool = False) -> np.ndarray:
        """Per-seed `values` [seeds, ...] without the diverged seeds: their entries NaN, so that
        statistics leave them out (and count them) while seeds stay paired by index; with
        `drop`, their rows removed, for figures that draw the seeds that are left."""
        if drop:
            return values[~self.diverged]
        return np.where(self.diverged.reshape(-1, *[1] * (np.ndim(values) - 1)), np.nan, values)


def _leaves(tree) -> list:
    """The arrays of nested dicts; written here, not with flax.traverse_util as outputs.py
    does, because analysis code must not import JAX."""
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _leaves(value)]
    return [tree]


class Pooled(NamedTuple):
    """One model over the origins of a backtest, each origin's Result with every seed: a
    seed's metric is its mean over the origins (`values`), so that seeds stay paired."""

    folds: list[Result]

    @property
    def cfg(self) -> Config:
        return self.folds[0].cfg

    @property
    def timing(self) -> Timing:
        return self.folds[0].timing

    @property
    def n_params(self) -> int:
        return self.folds[0].n_params

    @property
    def runs_cfg(self) -> Config:
        """The config whose seeds x epochs the timing covers: every origin's runs."""
        return self.cfg.replace(seeds=self.cfg.seeds * len(self.folds))

    @property
    def diverged(self) -> np.ndarray:
        """A seed diverged at any origin."""
        return np.logical_or.reduce([f.diverged for f in self.folds])

    @property
    def diverged_epoch(self) -> np.ndarray:
        """Each seed's earliest diverged epoch over the origins (0: none diverged)."""
        epochs = np.stack([f.diverged_epoch for f in self.folds])
        return np.where(epochs > 0, epochs, np.iinfo(np.int32).max).min(axis=0) % np.iinfo(np.int32).max

    def masked(self, values: np.ndarray, drop: bool = False) -> np.ndarray:
        return Result.masked(self, values, drop)  # the same rule, with the pooled divergence

    def values(self, fn) -> np.ndarray:
        """[seeds]: fn of each origin's Result (its diverged seeds NaN), averaged over origins."""
        return np.mean([f.masked(fn(f)) for f in self.folds], axis=0)
