"""The fused recurrence kernels against the XLA cells they replace (interpret mode on CPU),
and their CUDA lowering (Triton), which needs no GPU."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnjax.core.cells import make_cell
from rnnjax.core.kernels import SUPPORTED, hidden_sequence, layout
from rnnjax.core.kernels import gru as gru_kernels
from rnnjax.core.kernels import lstm as lstm_kernels

S, B, T, H, I = 3, 10, 20, 40, 1  # B and H need padding (16, 64)
TRITON_CALL = "__gpu$xla.gpu.triton"


def seed_params(name: str) -> dict:
    """[S, ...] params from the cell's own (Keras) init, biases moved off zero so that the
    recurrent bias and the padded batch rows (which it makes non-zero) are exercised."""
    cell = make_cell(name, H, "keras")

    def one(key):
        k_init, k_bias = jax.random.split(key)
        params = cell.init(k_init, cell.initialize_carry(k_init, (I,)), jnp.zeros(I))["params"]
        bias = params["bias"] + 0.3 * jax.random.normal(k_bias, params["bias"].shape)
        return {**params, "bias": bias}

    return jax.vmap(one)(jax.random.split(jax.random.key(0), S))


def xla_hidden(name: str, params: dict, x_BxTxI: jax.Array) -> jax.Array:
    """The reference: the XLA cell's step scanned over time from a zero carry."""
    cell = make_cell(name, H, "keras")

    def step(carry, x_BxI):
        return cell.apply({"params": params}, carry, x_BxI)

    carry = cell.initialize_carry(None, (x_BxTxI.shape[0], I))
    return jax.lax.scan(step, carry, x_BxTxI.transpose(1, 0, 2))[1].transpose(1, 0, 2)


def loss(hidden, params, x_BxTxI):
    """A scalar of every h: the mean square of a fixed projection."""
    proj_H = jnp.linspace(-1.0, 1.0, H)
    return jnp.mean((hidden(params, x_BxTxI) @ proj_H) ** 2)


@pytest.fixture(scope="module", params=SUPPORTED)
def case(request):
    name = request.param
    x = jax.random.normal(jax.random.key(1), (S, B, T, I))
    return name, seed_params(name), x


def kernel_fn(name, **kw):
    return functools.partial(hidden_sequence, name, **kw)


def test_forward_matches_xla_cell(case):
    name, params, x = case
    h = jax.jit(jax.vmap(kernel_fn(name)))(params, x)
    expect = jax.vmap(functools.partial(xla_hidden, name))(params, x)
    assert h.shape == (S, B, T, H)
    np.testing.assert_allclose(h, expect, rtol=1e-5, atol=1e-6)


def test_gradients_match_xla_cell(case):
    name, params, x = case
    grad = lambda hidden: jax.jit(jax.vmap(jax.grad(functools.partial(loss, hidden), argnums=(0, 1))))
    got = grad(kernel_fn(name))(params, x)
    expect = grad(functools.partial(xla_hidden, name))(params, x)
    assert jax.tree.structure(got) == jax.tree.structure(expect)
    for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expect), strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5 * float(jnp.abs(e).max()))


def test_several_batch_blocks(case):
    """B = 70 pads to 128 rows in two blocks of 64: two kernel instances, dU summed over them."""
    name, params, _ = case
    p = jax.tree.map(lambda a: a[0], params)
    x = jax.random.normal(jax.random.key(2), (70, 5, I))
    assert layout.padding(70, H).batch_padded // layout.batch_block(128) == 2
    grad = lambda hidden: jax.jit(jax.grad(functools.partial(loss, hidden), argnums=(0, 1)))
    got, expect = grad(kernel_fn(name))(p, x), grad(functools.partial(xla_hidden, name))(p, x)
    for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expect), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5 * float(jnp.abs(e).max()))


def test_padded_hidden_units_stay_zero(case):
    name, params, x = case
    p = jax.tree.map(lambda a: a[0], params)
    pad = layout.padding(B, H)
    if name == "gru":
        xw = layout.time_major_gates(x[0] @ p["kernel"] + p["bias"][0], 3, pad)
        c = layout.split_gates(p["bias"][1], 3, pad)[:, None, :]
        h = gru_kernels.recurrence(xw, layout.recurrent_blocks(p["recurrent_kernel"], 3, pad), c, True)
    else:
        xw = layout.time_major_gates(x[0] @ p["kernel"] + p["bias"], 4, pad)
        h = lstm_kernels.recurrence(xw, layout.recurrent_blocks(p["recurrent_kernel"], 4, pad), True)
    assert h.shape == (T, 16, 64)
    assert not jnp.any(h[:, :, H:])  # exactly zero, not merely small
    # Padded batch rows: the GRU's recurrent bias, inside the kernel, makes them non-zero (they
    # are sliced away and get zero cotangents); all of the LSTM's bias is in the zero-padded xw.
    assert bool(jnp.any(h[:, B:, :H])) == (name == "gru")


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="no recurrence kernel"):
        hidden_sequence("lru", {}, jnp.zeros((B, T, I)))


@pytest.mark.parametrize("name", SUPPORTED)
def test_lowers_for_cuda_with_seeds_as_grid_axis(name):
    """The jitted, vmapped forward and its gradient lower through Pallas's Triton backend on
    a CPU-only machine: one kernel call forward, two (forward, backward) for the gradient, each
    with the S seeds as a grid axis. The Triton call has no export compatibility guarantee,
    hence the one disabled check."""
    params, x = seed_params(name), jnp.zeros((S, B, T, I))
    forward = jax.vmap(kernel_fn(name, interpret=False))
    gradient = jax.vmap(jax.grad(functools.partial(loss, kernel_fn(name, interpret=False)), argnums=(0, 1)))
    checks = [jax.export.DisabledSafetyCheck.custom_call(TRITON_CALL)]
    for fn, calls, out_shapes in [
        (forward, 1, [(S, B, T, H)]),
        (gradient, 2, [a.shape for a in jax.tree.leaves((params, x))]),
    ]:
        exported = jax.export.export(jax.jit(fn), platforms=("cuda",), disabled_checks=checks)(params, x)
        text = exported.mlir_module()
        assert [a.shape for a in exported.out_avals] == out_shapes
        assert text.count(f"@{TRITON_CALL}(") == calls
        grids = re.findall(r"grid_x = (\d+) : i32, grid_y = (\d+) : i32, grid_z = (\d+) : i32", text)
        assert len(grids) == calls and all(sorted(map(int, g)) == [1, 1, S] for g in grids)
