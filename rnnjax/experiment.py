"""One model of the experiment end to end: train every seed, forecast closed loop, score."""

import time
from typing import NamedTuple

import jax
import numpy as np

from rnnjax import data as data_lib
from rnnjax import forecast as forecast_lib
from rnnjax import train as train_lib
from rnnjax.config import Config
from rnnjax.model import count_params, make_model


def default_chunk(epochs: int) -> int:
    """Epochs per compiled chunk (and checkpoint): about 20 per run, at most 50 epochs apart,
    which is every few seconds here and costs nothing measurable."""
    return max(1, min(50, epochs // 20))


class Timing(NamedTuple):
    compile_s: float  # tracing and XLA compilation of the training program(s)
    train_s: float  # running them, every seed and epoch
    forecast_s: float  # compiling and running the rollouts

    def seed_epochs_per_s(self, cfg: Config) -> float:
        return cfg.seeds * cfg.epochs / self.train_s

    def s_per_epoch(self, cfg: Config) -> float:
        """Wall time of one epoch of all seeds together."""
        return self.train_s / cfg.epochs


class ModelRun(NamedTuple):
    """Everything one model's run produced, as NumPy arrays with a leading seed axis."""

    cfg: Config
    params: int  # parameter count of one model
    loss: np.ndarray  # [seeds, epochs]
    val_loss: np.ndarray  # [seeds, epochs]
    forecast: np.ndarray  # [seeds, horizon]
    context: np.ndarray  # [window] the true values the rollout starts from
    truth: np.ndarray  # [horizon]
    timing: Timing
    diverged_epoch: np.ndarray  # [seeds] 1-based epoch whose loss or params became non-finite; 0 if none

    @property
    def diverged(self) -> np.ndarray:
        """[seeds] bool: training diverged, or a loss or forecast value is non-finite."""
        finite = [np.isfinite(a).all(axis=1) for a in (self.loss, self.val_loss, self.forecast)]
        return (self.diverged_epoch > 0) | ~np.logical_and.reduce(finite)


def run(cfg: Config, chunk: int | None = None, on_chunk=None, resume: train_lib.Progress | None = None) -> ModelRun:
    """Train cfg.seeds seeds of cfg.cell in chunks of `chunk` epochs (default_chunk if None;
    from `resume` if given), then roll each out."""
    chunk = default_chunk(cfg.epochs) if chunk is None else min(chunk, cfg.epochs)
    training = train_lib.train_chunked(cfg, chunk, on_chunk, resume=resume)
    t0 = time.perf_counter()
    model = make_model(cfg)
    context, truth = data_lib.forecast_truth(cfg)
    params = training.result.params
    pred = np.asarray(forecast_lib.forecast_seeds(model, params, context, cfg.horizon, cfg.forecast_mode))
    forecast_s = time.perf_counter() - t0
    return ModelRun(
        cfg=cfg,
        params=count_params(jax.tree.map(lambda leaf: leaf[0], params)),
        loss=training.result.history.loss,
        val_loss=training.result.history.val_loss,
        forecast=pred,
        context=context,
        truth=truth,
        timing=Timing(training.compile_s, training.train_s, forecast_s),
        diverged_epoch=np.asarray(training.result.diverged_epoch),
    )
