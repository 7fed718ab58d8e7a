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
    forecast: np.ndarray  # [seeds, horizon]; several channels: [seeds, horizon, targets]
    context: np.ndarray  # [window] the true values the rollout starts from; several: [window, channels]
    truth: np.ndarray  # [horizon]; several channels: [horizon, targets]
    timing: Timing  # the model's, over the whole study
    # early stopping (cfg.patience > 0), [seeds]: the last epoch a run trained (0: it never
    # stopped) and the epoch of its best validation loss; None without early stopping
    stopped_epoch: np.ndarray | None = None
    best_epoch: np.ndarray | None = None
    target: int | None = None  # `channel(k)`'s view of target channel k; None: the whole run

    @property
    def channels(self) -> tuple[str, ...] | None:
        """The names of the channels predicted (several channels), else None."""
        if self.forecast.ndim < 3:
            return None
        from rnnjax.core.series import channels, targets  # NumPy only

        names = channels(self.cfg)
        return tuple(names[i] for i in targets(self.cfg))

    def channel(self, k: int) -> "Result":
        """The run as one predicted channel (the k-th target) sees it: forecast [seeds,
        horizon], truth [horizon] and context [window] of that channel alone."""
        from rnnjax.core.series import targets

        column = targets(self.cfg)[k]
        return self._replace(
            forecast=self.forecast[..., k], truth=self.truth[:, k], context=self.context[:, column], target=k
        )

    @property
    def trained_epochs(self) -> np.ndarray:
        """[seeds] epochs each run trained: all of them, or up to its early stop."""
        epochs = np.full(len(self.forecast), self.history.loss.shape[-1])
        return epochs if self.stopped_epoch is None else np.where(self.stopped_epoch > 0, self.stopped_epoch, epochs)

    @property
    def kept_epoch(self) -> np.ndarray:
        """[seeds] the (1-based) epoch whose parameters a run ends with: its best epoch
        where early stopping restores it, else the last epoch it trained."""
        if self.best_epoch is not None and self.cfg.restore_best:
            return np.where(self.best_epoch > 0, self.best_epoch, self.trained_epochs)
        return self.trained_epochs

    def at_kept_epoch(self, per_epoch: np.ndarray) -> np.ndarray:
        """[seeds] a [seeds, epochs] history's value at each run's kept epoch."""
        return np.take_along_axis(per_epoch, self.kept_epoch[:, None] - 1, axis=1)[:, 0]

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
        trained = np.arange(self.history.loss.shape[-1]) < self.trained_epochs[:, None]  # NaN after a stop
        finite = np.logical_and.reduce([(np.isfinite(a) | ~trained).all(axis=1) for a in self.history])
        forecast_finite = np.isfinite(self.forecast).reshape(len(self.forecast), -1).all(axis=1)
        return (self.diverged_epoch > 0) | ~finite | ~forecast_finite

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
