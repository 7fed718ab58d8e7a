"""Closed-loop rollouts as a lax.scan of one step.

"window" mode is the seed notebook's protocol: each step predicts the next value from the
last `window` values with a fresh zero state (as Keras `predict` does), O(window) per step.
"carry" mode warms the state up on the context once and then feeds each prediction back
into the cell, keeping its state, O(1) per step.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnnjax.core import data as data_lib
from rnnjax.core.config import Config
from rnnjax.core.model import Regressor, make_model
from rnnjax.core.train import ProgramKey


class CarryRollout(NamedTuple):
    carry: Any  # the cell's state after the inputs so far
    y_O: jax.Array  # the prediction for the next value


def _window_rollout(model: Regressor, params, context_T, horizon: int, teacher_N):
    def step(window_T, teacher_t):
        y_next = model.apply({"params": params}, window_T[:, None])[-1, 0]
        fed = y_next if teacher_t is None else teacher_t
        return jnp.append(window_T[1:], fed), y_next

    return jax.lax.scan(step, context_T, teacher_N, length=horizon)[1]


def _carry_rollout(model: Regressor, params, context_T, horizon: int, teacher_N):
    variables = {"params": params}
    carry0 = model.apply(variables, 1, method=Regressor.zero_carry)
    carry, y_Tx1 = model.apply(variables, carry0, context_T[:, None], method=Regressor.encode)

    def step(state: CarryRollout, teacher_t):
        fed = state.y_O if teacher_t is None else teacher_t[None]
        carry, y_O = model.apply(variables, state.carry, fed, method=Regressor.step)
        return CarryRollout(carry, y_O), state.y_O[0]

    return jax.lax.scan(step, CarryRollout(carry, y_Tx1[-1]), teacher_N, length=horizon)[1]


ROLLOUTS = {"window": _window_rollout, "carry": _carry_rollout}


def rollout(model: Regressor, params, context_T, horizon: int, mode: str = "window", teacher_N=None):
    """`horizon` one-step predictions following `context_T`: [horizon].

    Closed loop by default: each prediction is fed back as the next input. With
    `teacher_N` (the true next values, [horizon]) the truth is fed instead (teacher forcing).
    """
    return ROLLOUTS[mode](model, params, jnp.asarray(context_T), horizon, teacher_N)


def _seeds_rollout(model: Regressor, horizon: int, mode: str):
    """(params_S, context_T) -> [seeds, horizon]: every seed's closed-loop rollout."""
    return jax.vmap(lambda p, context_T: rollout(model, p, context_T, horizon, mode), in_axes=(0, None))


def forecast_seeds(model: Regressor, params_S, context_T, horizon: int, mode: str = "window"):
    """Closed-loop forecasts of every seed's parameters from `context_T`: [seeds, horizon], one jit."""
    return jax.jit(_seeds_rollout(model, horizon, mode))(params_S, jnp.asarray(context_T))


@functools.lru_cache(maxsize=32)
def _forecast_program(key: ProgramKey, horizon: int, mode: str):
    """`forecast_seeds` of a config's model, compiled once per shape."""
    return jax.jit(_seeds_rollout(make_model(key.cfg), horizon, mode))


def forecast(cfg: Config, params_R, runs=None) -> np.ndarray:
    """cfg's closed-loop forecast (cfg.forecast_mode, cfg.steps steps) for every run's
    parameters, [runs, horizon] in the data's units, each from its own series' context:
    the config's, or, where the runs' series differ, each run's (`runs`: [R] arrays named
    as the config's series knobs, e.g. a train.Runs)."""
    n_runs = len(jax.tree.leaves(params_R)[0])
    groups = [(cfg, np.arange(n_runs))] if runs is None else data_lib.series_groups(cfg, runs)
    program = _forecast_program(ProgramKey(cfg), cfg.steps, cfg.forecast_mode)
    out = np.empty((n_runs, cfg.steps), np.float32)
    for cfg_g, idx in groups:
        context, _ = data_lib.forecast_truth(cfg_g)
        scale = data_lib.scale(cfg_g)
        mine = params_R if len(idx) == n_runs else jax.tree.map(lambda a, i=idx: a[i], params_R)
        pred = program(mine, jnp.asarray(data_lib.to_model(context, scale)))
        out[idx] = data_lib.to_data(np.asarray(pred), scale)
    return out
