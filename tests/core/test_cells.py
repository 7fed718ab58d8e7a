import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from flax import linen as nn

from rnnjax.core import cells
from rnnjax.core.config import Config
from rnnjax.core.model import Regressor, count_params, init_params, make_model

H, I, T = 6, 1, 9
RNG = np.random.default_rng(0)
XS = RNG.normal(size=(T, I)).astype(np.float32)


def random_fused(gates, two_biases=False):
    """Random non-zero Keras-layout weights."""
    W = RNG.normal(0, 0.7, size=(I, gates * H)).astype(np.float32)
    U = RNG.normal(0, 0.4, size=(H, gates * H)).astype(np.float32)
    b = RNG.normal(0, 0.5, size=((2, gates * H) if two_biases else (gates * H,))).astype(np.float32)
    return {"kernel": W, "recurrent_kernel": U, "bias": b}


def hidden_states(cell, params, xs=XS):
    """The cell scanned over xs by rnnjax's model, from a zero state: [T, H]."""
    model = Regressor(cell)
    variables = {"params": {"cell": params, "head": {"kernel": np.zeros((H, 1)), "bias": np.zeros(1)}}}
    carry = model.apply(variables, I, method=Regressor.zero_carry)
    return np.asarray(model.apply(variables, carry, jnp.asarray(xs), method=Regressor.hidden)[1])


@pytest.mark.parametrize(
    "cell, params_with_head",
    [
        ("gru", 5201),
        ("lstm", 6761),
        ("rnn", 1721),
        ("flax_gru", 5121),
        ("flax_lstm", 6761),
        ("mingru", 2 * 40 + 2 * 40 + 41),  # kernel [1, 2H], bias [2H], Dense
        ("minlstm", 3 * 40 + 3 * 40 + 41),
        ("lru", 3 * 40 + 2 * 40 + 2 * 40 * 40 + 40 + 41),  # ν θ γ, B, C, D, Dense
    ],
)
@pytest.mark.parametrize("init", ["keras", "flax"])
def test_parameter_counts_match_keras_summary(cell, params_with_head, init):
    cfg = Config(cell=cell, init=init)
    params = init_params(make_model(cfg), jax.random.key(0), cfg.window)
    assert count_params(params) == params_with_head
    assert count_params(params["head"]) == 41


def test_gru_matches_numpy_equations():
    p = random_fused(3, two_biases=True)
    expect = ref.run_sequence(
        lambda h, x: ref.gru_step(h, x, p["kernel"], p["recurrent_kernel"], p["bias"]), np.zeros(H), XS
    )
    np.testing.assert_allclose(hidden_states(cells.KerasGRUCell(H), p), expect, atol=1e-5)


def test_lstm_matches_numpy_equations():
    p = random_fused(4)
    step = lambda ch, x: ref.lstm_step(*ch, x, p["kernel"], p["recurrent_kernel"], p["bias"])
    expect = ref.run_sequence(step, (np.zeros(H), np.zeros(H)), XS)
    np.testing.assert_allclose(hidden_states(cells.KerasLSTMCell(H), p), expect, atol=1e-5)


def test_simple_rnn_matches_numpy_equations():
    p = random_fused(1)
    expect = ref.run_sequence(
        lambda h, x: ref.rnn_step(h, x, p["kernel"], p["recurrent_kernel"], p["bias"]), np.zeros(H), XS
    )
    np.testing.assert_allclose(hidden_states(cells.SimpleRNNCell(H), p), expect, atol=1e-5)


def test_keras_lstm_equals_stock_flax_lstm_with_mapped_weights():
    p = random_fused(4)
    ours = hidden_states(cells.KerasLSTMCell(H), p)
    stock = nn.RNN(nn.OptimizedLSTMCell(H))
    theirs = stock.apply({"params": {"cell": cells.keras_lstm_to_flax(p)}}, jnp.asarray(XS))
    np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-5)


def test_keras_gru_equals_stock_flax_gru_with_mapped_weights():
    p = random_fused(3, two_biases=True)  # recurrent z, r biases fold into the input ones
    ours = hidden_states(cells.KerasGRUCell(H), p)
    stock = nn.RNN(nn.GRUCell(H))
    theirs = stock.apply({"params": {"cell": cells.keras_gru_to_flax(p)}}, jnp.asarray(XS))
    np.testing.assert_allclose(ours, np.asarray(theirs), atol=1e-5)


def cell_params(name, init, hidden=40, seed=0):
    cfg = Config(cell=name, init=init, hidden=hidden)
    return init_params(make_model(cfg), jax.random.key(seed), cfg.window)["cell"]


def orthonormal_rows(m):
    return np.allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-5)


@pytest.mark.parametrize("name, gates", [("gru", 3), ("lstm", 4)])
def test_keras_init_is_one_whole_orthogonal_matrix(name, gates):
    p = cell_params(name, "keras")
    U = np.asarray(p["recurrent_kernel"])
    assert U.shape == (40, gates * 40) and orthonormal_rows(U)
    # a block of a wide orthogonal matrix is not itself orthogonal
    assert not orthonormal_rows(U[:, :40])
    W = np.asarray(p["kernel"])
    limit = np.sqrt(6.0 / (1 + gates * 40))  # glorot_uniform over the whole (1, G*H) kernel
    assert np.all(np.abs(W) <= limit) and np.abs(W).max() > 0.8 * limit


@pytest.mark.parametrize("name, gates", [("gru", 3), ("lstm", 4)])
def test_flax_init_is_orthogonal_per_gate(name, gates):
    U = np.asarray(cell_params(name, "flax")["recurrent_kernel"])
    assert all(orthonormal_rows(U[:, g * 40 : (g + 1) * 40]) for g in range(gates))
    assert not orthonormal_rows(U)


def test_lstm_forget_bias_is_one_under_keras_init_only():
    b = np.asarray(cell_params("lstm", "keras")["bias"])
    np.testing.assert_array_equal(b, np.r_[np.zeros(40), np.ones(40), np.zeros(80)])
    assert not np.any(np.asarray(cell_params("lstm", "flax")["bias"]))
    np.testing.assert_array_equal(cell_params("gru", "keras")["bias"], np.zeros((2, 120)))


@pytest.mark.parametrize("name, gates, rec", [("flax_gru", "zrn", "h{}"), ("flax_lstm", "ifgo", "h{}")])
def test_stock_cells_under_keras_init_are_slices_of_the_whole_matrix(name, gates, rec):
    p = cell_params(name, "keras")
    U = np.concatenate([np.asarray(p[rec.format(g)]["kernel"]) for g in gates], axis=1)
    assert orthonormal_rows(U) and not orthonormal_rows(U[:, :40])
    if name == "flax_lstm":
        np.testing.assert_array_equal(p["hf"]["bias"], np.ones(40))


def test_stock_cells_keep_flax_defaults_under_flax_init():
    p = cell_params("flax_gru", "flax")
    assert all(orthonormal_rows(np.asarray(p[k]["kernel"])) for k in ("hz", "hr", "hn"))


def test_keras_init_depends_on_the_key():
    a, b = cell_params("gru", "keras", seed=0), cell_params("gru", "keras", seed=1)
    assert not np.allclose(a["recurrent_kernel"], b["recurrent_kernel"])


def test_registry_makes_every_cell():
    for name, cls in cells.CELLS.items():
        cell = cells.make_cell(name, 3)
        assert isinstance(cell, cls) and cell.features == 3


PARALLEL = ("mingru", "minlstm", "lru")


def random_params(name, seed=0, hidden=H):
    """A cell's parameters at their initialisation, every leaf then perturbed: nothing zero."""
    cfg = Config(cell=name, hidden=hidden)
    params = init_params(make_model(cfg), jax.random.key(seed), cfg.window)["cell"]
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: np.asarray(a) + rng.normal(0, 0.3, np.shape(a)).astype(np.float32), params)


@pytest.mark.parametrize("name", PARALLEL)
def test_the_parallel_form_equals_the_step_form_scanned(name):
    cell = cells.make_cell(name, H)
    assert cells.has_parallel_form(cell) and not cells.has_parallel_form(cells.make_cell("gru", H))
    rng = np.random.default_rng(1)
    xs = jnp.asarray(rng.normal(size=(20, I)), jnp.float32)
    for seed in range(3):
        variables = {"params": random_params(name, seed)}
        h0 = cell.initialize_carry(None, (I,))
        h0 = h0 + jnp.asarray(rng.normal(size=h0.shape), h0.dtype)  # from a non-zero state too
        last, ys = cell.apply(variables, h0, xs, method=type(cell).sequence)

        def step(h, x, variables=variables):
            return cell.apply(variables, h, x)

        last_step, ys_step = jax.lax.scan(step, h0, xs)
        np.testing.assert_allclose(np.asarray(ys), np.asarray(ys_step), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(last), np.asarray(last_step), rtol=1e-5, atol=1e-5)


def test_mingru_matches_numpy_equations():
    p = random_params("mingru")
    expect = ref.run_sequence(lambda h, x: ref.mingru_step(h, x, p["kernel"], p["bias"]), np.zeros(H), XS)
    np.testing.assert_allclose(hidden_states(cells.MinGRUCell(H), p), expect, atol=1e-5)


def test_minlstm_matches_numpy_equations():
    p = random_params("minlstm")
    expect = ref.run_sequence(lambda h, x: ref.minlstm_step(h, x, p["kernel"], p["bias"]), np.zeros(H), XS)
    np.testing.assert_allclose(hidden_states(cells.MinLSTMCell(H), p), expect, atol=1e-5)


def test_lru_matches_numpy_equations():
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), random_params("lru"))
    state, expect = np.zeros(H, complex), []
    for u in XS.astype(np.float64):
        state, y = ref.lru_step(state, u, p)
        expect.append(y)
    np.testing.assert_allclose(hidden_states(cells.LRUCell(H), p), np.stack(expect), atol=1e-5)


def test_lru_initialises_its_eigenvalues_on_the_papers_ring():
    cell = cells.LRUCell(400, r_min=0.4, r_max=0.9, max_phase=3.0)
    params = cell.init(jax.random.key(0), cell.initialize_carry(None, (1,)), jnp.zeros(1))["params"]
    lam = np.asarray(cell.apply({"params": params}, method=cells.LRUCell.eigenvalues))
    assert np.all(np.abs(lam) >= 0.4 - 1e-6) and np.all(np.abs(lam) <= 0.9 + 1e-6)
    # |λ|² is uniform on [r_min², r_max²]: its mean is the middle
    assert abs(np.mean(np.abs(lam) ** 2) - (0.16 + 0.81) / 2) < 0.03
    assert np.all(np.angle(lam) % (2 * np.pi) <= 3.0 + 1e-5)
    np.testing.assert_allclose(np.exp(params["gamma_log"]), np.sqrt(1 - np.abs(lam) ** 2), rtol=1e-5)
    assert params["B_re"].shape == (400, 1) and params["C_re"].shape == (400, 400)
    assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(params))


@pytest.mark.parametrize("name", PARALLEL)
@pytest.mark.parametrize("mode", ["window", "carry"])
def test_parallel_cells_train_and_roll_out_closed_loop(name, mode):
    from rnnjax.core.forecast import forecast
    from rnnjax.study import train as driver

    cfg = Config(cell=name, hidden=8, epochs=20, seeds=2, forecast_mode=mode, horizon=30)
    trained = driver.train(cfg)
    loss = np.asarray(trained.history.loss)
    assert np.all(loss[:, -1] < loss[:, 0])
    pred = forecast(cfg, trained.params)
    assert pred.shape == (2, 30) and np.all(np.isfinite(pred))


def test_lru_initialisation_is_finite_where_a_draw_underflows():
    """A phase drawn near 0 and scaled by max_phase < 1 underflowed to 0 (theta_log -inf,
    about once in 2^23 draws): floored at float32's tiny. Other draws keep every bit."""
    cell = cells.LRUCell(features=8, in_features=1, r_min=0.4, r_max=0.9, max_phase=np.pi / 10)
    key = jax.random.split(jax.random.key(13), 25_000)[3411]
    params = cell.init(key, cell.initialize_carry(None, (1,)), jnp.zeros(1))["params"]
    assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(params))
    assert params["theta_log"][3] == np.float32(np.log(np.finfo(np.float32).tiny))
    # |lambda|^2 rounding to 1 (r_max 1, r_min near it) would give nu_log = -inf
    near = cells.LRUCell(features=4096, in_features=1, r_min=0.9999, r_max=1.0)
    nu = near.init(jax.random.key(1), near.initialize_carry(None, (1,)), jnp.zeros(1))["params"]["nu_log"]
    assert np.all(np.isfinite(nu))
    # an ordinary draw: the formula before the floors, bit for bit
    u = jax.random.uniform(jax.random.key(2), (64,), jnp.float32, minval=np.finfo(np.float32).tiny)
    np.testing.assert_array_equal(cells._within_open_unit(u * (0.81 - 0.16) + 0.16), u * (0.81 - 0.16) + 0.16)
