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


def _next_input(y_K, known_C, teacher_K, target: tuple[int, ...] | None):
    """The next step's input [C]: the predicted target channels (the truth's, with teacher
    forcing), the covariates' known values in the others (`target` None: every channel is
    a target)."""
    fed = y_K if teacher_K is None else teacher_K
    return fed if target is None else known_C.at[jnp.asarray(target)].set(fed)


def _window_rollout(model: Regressor, params, context_TxC, horizon: int, known_NxC, teacher_NxK, target):
    def step(window_TxC, inputs):
        known_C, teacher_K = inputs
        y_K = model.apply({"params": params}, window_TxC)[-1]
        return jnp.concatenate([window_TxC[1:], _next_input(y_K, known_C, teacher_K, target)[None]]), y_K

    return jax.lax.scan(step, context_TxC, (known_NxC, teacher_NxK), length=horizon)[1]


def _carry_rollout(model: Regressor, params, context_TxC, horizon: int, known_NxC, teacher_NxK, target):
    variables = {"params": params}
    carry0 = model.apply(variables, context_TxC.shape[-1], method=Regressor.zero_carry)
    carry, y_TxK = model.apply(variables, carry0, context_TxC, method=Regressor.encode)

    def step(state: CarryRollout, inputs):
        known_C, teacher_K = inputs
        fed = _next_input(state.y_O, known_C, teacher_K, target)
        carry, y_O = model.apply(variables, state.carry, fed, method=Regressor.step)
        return CarryRollout(carry, y_O), state.y_O

    return jax.lax.scan(step, CarryRollout(carry, y_TxK[-1]), (known_NxC, teacher_NxK), length=horizon)[1]


ROLLOUTS = {"window": _window_rollout, "carry": _carry_rollout}


def rollout(
    model: Regressor, params, context_T, horizon: int, mode: str = "window", teacher_N=None, known_NxC=None, target=None
):
    """`horizon` one-step predictions following `context_T`: [horizon] for one channel,
    [horizon, K] for a context of C channels [window, C].

    Closed loop by default: each prediction is fed back as the next input. With
    `teacher_N` (the true next values, [horizon] or [horizon, K]) the truth is fed instead
    (teacher forcing). With several channels, `target` (the predicted channels' indices,
    default every one) and `known_NxC` (every channel's values over the horizon, from which
    the other channels, known covariates, are read).
    """
    context = jnp.asarray(context_T)
    one = context.ndim == 1
    context_TxC = context[:, None] if one else context
    teacher = None if teacher_N is None else jnp.asarray(teacher_N).reshape(horizon, -1)
    every = target is None or tuple(target) == tuple(range(context_TxC.shape[-1]))
    y_NxK = ROLLOUTS[mode](
        model,
        params,
        context_TxC,
        horizon,
        None if every else jnp.asarray(known_NxC),
        teacher,
        None if every else tuple(target),
    )
    return y_NxK[:, 0] if one else y_NxK


def _seeds_rollout(model: Regressor, horizon: int, mode: str, target=None):
    """(params_S, context_T, known_NxC) -> [seeds, horizon(, K)]: every seed's closed-loop rollout."""

    def one(p, context_T, known_NxC):
        return rollout(model, p, context_T, horizon, mode, known_NxC=known_NxC, target=target)

    return jax.vmap(one, in_axes=(0, None, None))


def forecast_seeds(
    model: Regressor, params_S, context_T, horizon: int, mode: str = "window", known_NxC=None, target=None
):
    """Closed-loop forecasts of every seed's parameters from `context_T`: [seeds, horizon(, K)], one jit."""
    return jax.jit(_seeds_rollout(model, horizon, mode, target))(params_S, jnp.asarray(context_T), known_NxC)


@functools.lru_cache(maxsize=32)
def _forecast_program(key: ProgramKey, horizon: int, mode: str):
    """`forecast_seeds` of a config's model, compiled once per shape."""
    return jax.jit(_seeds_rollout(make_model(key.cfg), horizon, mode, data_lib.targets(key.cfg)))


def forecast(cfg: Config, params_R, runs=None) -> np.ndarray:
    """cfg's closed-loop forecast (cfg.forecast_mode, cfg.steps steps) for every run's
    parameters, [runs, horizon] in the data's units ([runs, horizon, K] for several
    channels), each from its own series' context: the config's, or, where the runs' series
    differ, each run's (`runs`: [R] arrays named as the config's series knobs, e.g. a
    train.Runs)."""
    n_runs = len(jax.tree.leaves(params_R)[0])
    groups = [(cfg, np.arange(n_runs))] if runs is None else data_lib.series_groups(cfg, runs)
    program = _forecast_program(ProgramKey(cfg), cfg.steps, cfg.forecast_mode)
    target = list(data_lib.targets(cfg))
    out = None
    for cfg_g, idx in groups:
        context, _ = data_lib.forecast_truth(cfg_g)
        known, scale = data_lib.known(cfg_g), data_lib.scale(cfg_g)
        mine = params_R if len(idx) == n_runs else jax.tree.map(lambda a, i=idx: a[i], params_R)
        known = None if known is None else jnp.asarray(data_lib.to_model(known, scale), jnp.float32)
        pred = np.asarray(program(mine, jnp.asarray(data_lib.to_model(context, scale)), known))
        if out is None:
            out = np.empty((n_runs, *pred.shape[1:]), np.float32)
        out[idx] = data_lib.to_data(pred, scale if context.ndim == 1 else _of_targets(scale, target))
    return out


def _of_targets(scale, target: list[int]):
    """The target channels' scaling, for the predictions [.., K] (several channels)."""
    return None if scale is None else scale._replace(mean=scale.mean[target], sd=scale.sd[target])
