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


class Timing(NamedTuple):
    compile_s: float  # tracing and XLA compilation of the training program
    train_s: float  # running it, every seed and epoch
    forecast_s: float  # compiling and running the rollouts


class ModelRun(NamedTuple):
    """Everything one model's run produced, as NumPy arrays with a leading seed axis."""

    cfg: Config
    params: int  # parameter count of one model
    loss: np.ndarray  # [seeds, epochs]
    val_loss: np.ndarray  # [seeds, epochs]
    forecast: np.ndarray  # [seeds, horizon]
    truth: np.ndarray  # [horizon]
    forecast_rmse: np.ndarray  # [seeds]
    timing: Timing


def run(cfg: Config) -> ModelRun:
    """Train cfg.seeds seeds of cfg.cell, then roll each out for cfg.horizon steps."""
    model = make_model(cfg)
    init_keys, fit_keys = train_lib.seed_keys(cfg)
    params = train_lib.init_seeds(cfg, init_keys)
    fit = jax.jit(jax.vmap(train_lib.make_fit(cfg, model, data_lib.split(cfg))))

    t0 = time.perf_counter()
    compiled = fit.lower(params, fit_keys).compile()
    t1 = time.perf_counter()
    result = jax.block_until_ready(compiled(params, fit_keys))
    t2 = time.perf_counter()
    context, truth = data_lib.forecast_truth(cfg)
    pred = np.asarray(forecast_lib.forecast_seeds(model, result.params, context, cfg.horizon, cfg.forecast_mode))
    t3 = time.perf_counter()

    one_seed = jax.tree.map(lambda leaf: leaf[0], result.params)
    return ModelRun(
        cfg=cfg,
        params=count_params(one_seed),
        loss=np.asarray(result.history.loss),
        val_loss=np.asarray(result.history.val_loss),
        forecast=pred,
        truth=truth,
        forecast_rmse=np.asarray(forecast_lib.rmse(pred, truth)),
        timing=Timing(t1 - t0, t2 - t1, t3 - t2),
    )
