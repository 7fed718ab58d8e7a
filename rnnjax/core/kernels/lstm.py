"""Fused Pallas kernels of the Keras LSTM recurrence over a window.

Per step t, from (c, h) = (c_{t-1}, h_{t-1}) and the input projection xw_t = x_t W + b
(blocks i, f, g, o; Keras calls g the c block):
    i, f, o = σ(xw + h U),  g = tanh(xw_g + h U_g),  c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
Arrays are in the kernels' layout (layout.py): xw [T, 4, Bp, Hp], U [4, Hp, Hp], h and c [T, Bp, Hp].
"""

import jax
import jax.numpy as jnp

from rnnjax.core.kernels import layout

GATES = 4


def _step(xw_ref, t, h, u):
    """The gates of step t from h = h_{t-1}: (i, f, g, o)."""
    a = [xw_ref[t, k] + jnp.dot(h, u[k], preferred_element_type=jnp.float32) for k in range(GATES)]
    return jax.nn.sigmoid(a[0]), jax.nn.sigmoid(a[1]), jnp.tanh(a[2]), jax.nn.sigmoid(a[3])


def _forward_kernel(xw_ref, u_ref, h_ref, c_ref):
    # U is loaded once, before the loop, and stays on chip for all T steps.
    u = [u_ref[k] for k in range(GATES)]

    def step(t, carry):
        c, h = carry
        i, f, g, o = _step(xw_ref, t, h, u)
        c = f * c + i * g
        h = o * jnp.tanh(c)
        h_ref[t] = h
        c_ref[t] = c
        return c, h

    zeros = jnp.zeros(h_ref.shape[1:], jnp.float32)
    jax.lax.fori_loop(0, xw_ref.shape[0], step, (zeros, zeros))


def _backward_kernel(xw_ref, u_ref, h_ref, c_ref, dh_ref, dxw_ref, du_ref):
    # The forward saves c beside h (c_{t-1} cannot be recovered stably from c_t) and the
    # gates are recomputed from h_{t-1}: as in the GRU, that is off the serial dh, dc chain,
    # and saving i, f, g, o would write and read back four times the bytes of h.
    # U and the dU accumulators stay on chip.
    steps = xw_ref.shape[0]
    u = [u_ref[k] for k in range(GATES)]

    def step(s, carry):
        dh_next, dc_next, du = carry
        t = steps - 1 - s
        has_prev = t > 0
        h_prev = jnp.where(has_prev, h_ref[jnp.maximum(t - 1, 0)], 0.0)
        c_prev = jnp.where(has_prev, c_ref[jnp.maximum(t - 1, 0)], 0.0)
        i, f, g, o = _step(xw_ref, t, h_prev, u)
        tanh_c = jnp.tanh(c_ref[t])
        dh = dh_ref[t] + dh_next
        dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
        d_pre = (
            dc * g * i * (1.0 - i),
            dc * c_prev * f * (1.0 - f),
            dc * i * (1.0 - g * g),
            dh * tanh_c * o * (1.0 - o),
        )
        for k in range(GATES):
            dxw_ref[t, k] = d_pre[k]
        du = tuple(du[k] + layout.dot_tn(h_prev, d_pre[k]) for k in range(GATES))
        dh_prev = layout.dot_nt(d_pre[0], u[0])
        for k in range(1, GATES):
            dh_prev = dh_prev + layout.dot_nt(d_pre[k], u[k])
        return dh_prev, dc * f, du

    hidden = u[0].shape[0]
    zeros = jnp.zeros(dh_ref.shape[1:], jnp.float32)
    zeros_u = tuple(jnp.zeros((hidden, hidden), jnp.float32) for _ in range(GATES))
    _, _, du = jax.lax.fori_loop(0, steps, step, (zeros, zeros, zeros_u))
    for k in range(GATES):
        du_ref[k] = du[k]


def _forward(xw, u, interpret: bool):
    """(h, c): the backward recomputes the gates, but not c (see _backward_kernel)."""
    steps, _, batch, hidden = xw.shape
    h_spec = layout.batch_tiled_spec((steps, batch, hidden), 1)
    h_shape = jax.ShapeDtypeStruct((steps, batch, hidden), jnp.float32)
    return layout.call(
        _forward_kernel,
        (h_shape, h_shape),
        [layout.batch_tiled_spec(xw.shape, 2), layout.shared_spec(u.shape)],
        (h_spec, h_spec),
        batch,
        interpret=interpret,
        num_warps=4,
        name="lstm_forward",
    )(xw, u)


def _backward(xw, u, h, c, dh, interpret: bool):
    batch = xw.shape[2]
    xw_spec, h_spec = layout.batch_tiled_spec(xw.shape, 2), layout.batch_tiled_spec(h.shape, 1)
    blocks = batch // layout.batch_block(batch)
    dxw, du = layout.call(
        _backward_kernel,
        (jax.ShapeDtypeStruct(xw.shape, jnp.float32), jax.ShapeDtypeStruct((blocks, *u.shape), jnp.float32)),
        [xw_spec, layout.shared_spec(u.shape), h_spec, h_spec, h_spec],
        (xw_spec, layout.per_block_spec(u.shape)),
        batch,
        interpret=interpret,
        num_warps=8,  # twice the forward's registers: U and the dU accumulators
        name="lstm_backward",
    )(xw, u, h, c, dh)
    return dxw, du.sum(0)


recurrence = layout.fused_recurrence(_forward, _backward, arrays=2)  # (xw, u, interpret) -> h
