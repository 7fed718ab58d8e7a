"""Fused Pallas kernels of the Keras GRU (reset_after=True) recurrence over a window.

Per step t, from h = h_{t-1} and the input projection xw_t = x_t W + b_0 (blocks z, r, h):
    z = σ(xw_z + h U_z + c_z),  r = σ(xw_r + h U_r + c_r),  hh = h U_h + c_h
    n = tanh(xw_h + r ⊙ hh),    h' = z ⊙ h + (1 − z) ⊙ n
with c = b_1 the recurrent bias. Arrays are in the kernels' layout (layout.py): xw [T, 3, Bp, Hp],
U [3, Hp, Hp], c [3, 1, Hp], h [T, Bp, Hp].
"""

import jax
import jax.numpy as jnp

from rnnjax.core.kernels import layout

GATES = 3


def _step(xw_ref, t, h, u, c):
    """The gates of step t from h = h_{t-1}: (z, r, hh, n)."""
    hz, hr, hh = (jnp.dot(h, u[g], preferred_element_type=jnp.float32) + c[g] for g in range(GATES))
    z = jax.nn.sigmoid(xw_ref[t, 0] + hz)
    r = jax.nn.sigmoid(xw_ref[t, 1] + hr)
    n = jnp.tanh(xw_ref[t, 2] + r * hh)
    return z, r, hh, n


def _forward_kernel(xw_ref, u_ref, c_ref, h_ref):
    # U and c are loaded once, before the loop, and stay on chip for all T steps.
    u = [u_ref[g] for g in range(GATES)]
    c = [c_ref[g] for g in range(GATES)]

    def step(t, h):
        z, _, _, n = _step(xw_ref, t, h, u, c)
        h = z * h + (1.0 - z) * n
        h_ref[t] = h
        return h

    jax.lax.fori_loop(0, xw_ref.shape[0], step, jnp.zeros(h_ref.shape[1:], jnp.float32))


def _backward_kernel(xw_ref, u_ref, c_ref, h_ref, dh_ref, dxw_ref, du_ref, dc_ref):
    # The gates are recomputed from the saved h rather than saved by the forward: the
    # recomputation needs only h_{t-1}, read from memory, so it is off the serial chain
    # dh_t -> dh_{t-1} and can overlap it, whereas saving z, r, hh, n would write and read
    # back four times the bytes of h. U, c and the dU, dc accumulators stay on chip.
    steps = xw_ref.shape[0]
    u = [u_ref[g] for g in range(GATES)]
    c = [c_ref[g] for g in range(GATES)]

    def step(s, carry):
        dh_next, du, dc = carry
        t = steps - 1 - s
        h_prev = jnp.where(t > 0, h_ref[jnp.maximum(t - 1, 0)], 0.0)
        z, r, hh, n = _step(xw_ref, t, h_prev, u, c)
        dh = dh_ref[t] + dh_next
        da_n = dh * (1.0 - z) * (1.0 - n * n)
        da_z = dh * (h_prev - n) * z * (1.0 - z)
        da_r = da_n * hh * r * (1.0 - r)
        dxw_ref[t, 0] = da_z
        dxw_ref[t, 1] = da_r
        dxw_ref[t, 2] = da_n
        d_pre = (da_z, da_r, da_n * r)  # gradients of h U_g + c_g
        du = tuple(du[g] + layout.dot_tn(h_prev, d_pre[g]) for g in range(GATES))
        dc = tuple(dc[g] + jnp.sum(d_pre[g], axis=0, keepdims=True) for g in range(GATES))
        dh_prev = dh * z
        for g in range(GATES):
            dh_prev = dh_prev + layout.dot_nt(d_pre[g], u[g])
        return dh_prev, du, dc

    hidden = u[0].shape[0]
    zeros_u = tuple(jnp.zeros((hidden, hidden), jnp.float32) for _ in range(GATES))
    zeros_c = tuple(jnp.zeros((1, hidden), jnp.float32) for _ in range(GATES))
    _, du, dc = jax.lax.fori_loop(0, steps, step, (jnp.zeros(dh_ref.shape[1:], jnp.float32), zeros_u, zeros_c))
    for g in range(GATES):
        du_ref[g] = du[g]
        dc_ref[g] = dc[g]


def _forward(xw, u, c, interpret: bool):
    """(h,): all the backward needs (it recomputes the gates)."""
    steps, _, batch, hidden = xw.shape
    h_spec = layout.batch_tiled_spec((steps, batch, hidden), 1)
    h = layout.call(
        _forward_kernel,
        jax.ShapeDtypeStruct((steps, batch, hidden), jnp.float32),
        [layout.batch_tiled_spec(xw.shape, 2), layout.shared_spec(u.shape), layout.shared_spec(c.shape)],
        h_spec,
        batch,
        interpret=interpret,
        num_warps=4,
        name="gru_forward",
    )(xw, u, c)
    return (h,)


def _backward(xw, u, c, h, dh, interpret: bool):
    batch = xw.shape[2]
    xw_spec, h_spec = layout.batch_tiled_spec(xw.shape, 2), layout.batch_tiled_spec(h.shape, 1)
    blocks = batch // layout.batch_block(batch)
    dxw, du, dc = layout.call(
        _backward_kernel,
        (
            jax.ShapeDtypeStruct(xw.shape, jnp.float32),
            jax.ShapeDtypeStruct((blocks, *u.shape), jnp.float32),
            jax.ShapeDtypeStruct((blocks, *c.shape), jnp.float32),
        ),
        [xw_spec, layout.shared_spec(u.shape), layout.shared_spec(c.shape), h_spec, h_spec],
        (xw_spec, layout.per_block_spec(u.shape), layout.per_block_spec(c.shape)),
        batch,
        interpret=interpret,
        num_warps=8,  # twice the forward's registers: U and the dU accumulators
        name="gru_backward",
    )(xw, u, c, h, dh)
    return dxw, du.sum(0), dc.sum(0)


recurrence = layout.fused_recurrence(_forward, _backward, arrays=3)  # (xw, u, c, interpret) -> h
