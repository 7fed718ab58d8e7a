"""The Keras GRU and LSTM over a whole window with fused Pallas kernels (Triton on GPU).

`hidden_sequence(cell, params, x_BxTxI)` equals scanning `KerasGRUCell` / `KerasLSTMCell`
(cells.py) from a zero carry over each sequence, and is differentiable (a custom VJP with a
fused backward kernel). The input projection x W + b needs no state and is one plain matmul
over all steps; the kernels do the recurrence, one batch block per instance, the recurrent
weights kept on chip across the T steps. Under `jax.vmap` (over seeds, each with its own
weights) Pallas adds a grid axis, so one launch runs every seed.
"""

import functools

import jax
import jax.numpy as jnp

from rnnjax.core.kernels import gru, layout, lstm

SUPPORTED = ("gru", "lstm")


def _gru(params: dict, x_BxTxI: jax.Array, interpret: bool) -> jax.Array:
    W, U, b = params["kernel"], params["recurrent_kernel"], params["bias"]
    pad = layout.padding(x_BxTxI.shape[0], U.shape[0])
    xw = layout.time_major_gates(x_BxTxI @ W + b[0], gru.GATES, pad)
    u = layout.recurrent_blocks(U, gru.GATES, pad)
    c = layout.split_gates(b[1], gru.GATES, pad)[:, None, :]
    return layout.batch_major(gru.recurrence(xw, u, c, interpret), pad)


def _lstm(params: dict, x_BxTxI: jax.Array, interpret: bool) -> jax.Array:
    W, U, b = params["kernel"], params["recurrent_kernel"], params["bias"]
    pad = layout.padding(x_BxTxI.shape[0], U.shape[0])
    xw = layout.time_major_gates(x_BxTxI @ W + b, lstm.GATES, pad)
    u = layout.recurrent_blocks(U, lstm.GATES, pad)
    return layout.batch_major(lstm.recurrence(xw, u, interpret), pad)


_CELLS = {"gru": _gru, "lstm": _lstm}


def hidden_sequence(cell: str, params: dict, x_BxTxI: jax.Array, *, interpret: bool | None = None) -> jax.Array:
    """h [B, T, H] of the Keras cell `cell` ("gru" or "lstm") with Flax params `params`
    (cells.py's layout) from a zero state. `interpret=None`: the Triton kernels where the
    program is lowered for a GPU, Pallas's interpreter elsewhere."""
    if cell not in _CELLS:
        raise ValueError(f"no recurrence kernel for cell {cell!r}; kernels exist for {SUPPORTED}")
    x_BxTxI = jnp.asarray(x_BxTxI, jnp.float32)
    if interpret is not None:
        return _CELLS[cell](params, x_BxTxI, bool(interpret))
    # Decided when lowering, not from the default backend when tracing: a program exported
    # for CUDA from a CPU machine (the tests) then holds the Triton kernels a GPU would run.
    # Only the branch of the platform lowered for is lowered.
    triton = functools.partial(_CELLS[cell], interpret=False)
    interpreted = functools.partial(_CELLS[cell], interpret=True)
    return jax.lax.platform_dependent(params, x_BxTxI, cuda=triton, rocm=triton, default=interpreted)
