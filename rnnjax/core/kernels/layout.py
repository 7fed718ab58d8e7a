"""Between the cells' Keras layout and the kernels' padded, time-major, gate-split layout,
and what every kernel shares: block specs, the pallas_call, transposed dots, the custom VJP.

Triton wants power-of-two blocks and dots of at least 16 a side, so batch and hidden are
zero-padded: B -> Bp, H -> Hp, each gate block padded on its own ([.., G*H] -> [.., G, Hp]).
From a zero state, padded hidden units stay exactly 0 in both cells: their pre-activations
are 0, so GRU: h' = σ(0) h + (1 − σ(0)) tanh(0) = 0.5 h = 0; LSTM: c' = σ(0) c + σ(0) tanh(0)
= 0.5 c = 0, h' = σ(0) tanh(0) = 0. Padded batch rows are independent sequences whose
cotangents are 0 (they are sliced away), so they add nothing to any gradient.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plt

MIN_BLOCK = 16  # Triton's smallest dot is 16 x 16 x 16
MAX_BATCH_BLOCK = 64  # batch rows per kernel instance; more rows, more instances


def next_power_of_2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def batch_block(batch_padded: int) -> int:
    """Batch rows per kernel instance."""
    return min(batch_padded, MAX_BATCH_BLOCK)


class Padding(NamedTuple):
    """Sizes of one call: batch B padded to Bp, hidden H padded to Hp."""

    batch: int
    batch_padded: int
    hidden: int
    hidden_padded: int


def padding(batch: int, hidden: int) -> Padding:
    """Hp: a power of two >= 16. Bp: a power of two >= 16 up to 64 rows, else a multiple of 64,
    so that batch blocks (`batch_block`) are powers of two."""
    hidden_padded = max(MIN_BLOCK, next_power_of_2(hidden))
    block = batch_block(max(MIN_BLOCK, next_power_of_2(batch)))
    return Padding(batch, -(-batch // block) * block, hidden, hidden_padded)


def split_gates(a_XxGH: jax.Array, gates: int, pad: Padding) -> jax.Array:
    """[..., G*H] -> [..., G, Hp], each gate block zero-padded on its own."""
    a = a_XxGH.reshape(*a_XxGH.shape[:-1], gates, pad.hidden)
    return jnp.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, pad.hidden_padded - pad.hidden)])


def recurrent_blocks(u_HxGH: jax.Array, gates: int, pad: Padding) -> jax.Array:
    """Keras's recurrent kernel [H, G*H] as one zero-padded [Hp, Hp] block per gate: [G, Hp, Hp]."""
    u_HxGxHp = split_gates(u_HxGH, gates, pad)
    u_HpxGxHp = jnp.pad(u_HxGxHp, [(0, pad.hidden_padded - pad.hidden), (0, 0), (0, 0)])
    return u_HpxGxHp.transpose(1, 0, 2)


def time_major_gates(xw_BxTxGH: jax.Array, gates: int, pad: Padding) -> jax.Array:
    """The input projection [B, T, G*H] as the kernels read it, one [Bp, Hp] block a step
    and gate: [T, G, Bp, Hp]."""
    xw = split_gates(xw_BxTxGH, gates, pad)
    xw = jnp.pad(xw, [(0, pad.batch_padded - pad.batch), (0, 0), (0, 0), (0, 0)])
    return xw.transpose(1, 2, 0, 3)


def batch_major(h_TxBpxHp: jax.Array, pad: Padding) -> jax.Array:
    """The kernels' [T, Bp, Hp] back to the cells' [B, T, H]."""
    return h_TxBpxHp[:, : pad.batch, : pad.hidden].transpose(1, 0, 2)


def dot_tn(a, b):
    """aᵀ b in a kernel, without materialising the transpose."""
    return jax.lax.dot_general(a, b, (((0,), (0,)), ((), ())), preferred_element_type=jnp.float32)


def dot_nt(a, b):
    """a bᵀ in a kernel, without materialising the transpose."""
    return jax.lax.dot_general(a, b, (((1,), (1,)), ((), ())), preferred_element_type=jnp.float32)


def batch_tiled_spec(shape: tuple[int, ...], batch_axis: int) -> pl.BlockSpec:
    """An array read or written one batch block per kernel instance, whole along its other axes."""
    block = list(shape)
    block[batch_axis] = batch_block(shape[batch_axis])
    return pl.BlockSpec(tuple(block), lambda b: tuple(b if a == batch_axis else 0 for a in range(len(shape))))


def shared_spec(shape: tuple[int, ...]) -> pl.BlockSpec:
    """An array every kernel instance reads whole (the weights)."""
    return pl.BlockSpec(shape, lambda b: (0,) * len(shape))


def per_block_spec(shape: tuple[int, ...]) -> pl.BlockSpec:
    """An output [batch blocks, *shape] of which each instance writes its own row (partial sums)."""
    return pl.BlockSpec((None, *shape), lambda b: (b,) + (0,) * len(shape))


def call(kernel, out_shape, in_specs, out_specs, batch_padded: int, *, interpret: bool, num_warps: int, name: str):
    """pallas_call over the batch blocks; under vmap, Pallas adds one grid axis per vmapped axis."""
    return pl.pallas_call(
        kernel,
        out_shape=out_shape,
        grid=(batch_padded // batch_block(batch_padded),),
        in_specs=in_specs,
        out_specs=out_specs,
        interpret=interpret,
        compiler_params=plt.CompilerParams(num_warps=num_warps),
        name=name,
    )


def fused_recurrence(forward, backward, arrays: int):
    """`recurrence(*arrays, interpret) -> h` [T, Bp, Hp] from a zero state, in the kernels'
    layout: a cell's forward kernel, differentiable through its backward kernel.

    `forward(*arrays, interpret)` returns the sequences the backward needs, h first (the
    GRU's h; the LSTM's h and c); `backward(*arrays, *sequences, dh, interpret)` returns the
    gradients of the `arrays` inputs (xw and the weights).
    """

    @functools.partial(jax.custom_vjp, nondiff_argnums=(arrays,))
    def recurrence(*args):
        return forward(*args)[0]

    def recurrence_fwd(*args):
        sequences = forward(*args)
        return sequences[0], (*args[:arrays], *sequences)

    def recurrence_bwd(interpret, residuals, dh):
        return backward(*residuals, dh, interpret)

    recurrence.defvjp(recurrence_fwd, recurrence_bwd)
    return recurrence
