import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference

from rnnjax.core.cells import CELLS, keras_lstm_to_flax
from rnnjax.core.config import Config
from rnnjax.core.model import (
    Dropout,
    Regressor,
    default_unroll,
    dropout_masks,
    init_params,
    layer_names,
    make_model,
    predict_batch,
    summary,
)
from rnnjax.study import train as driver

SEED_GRU_SUMMARY = """\
gru (KerasGRUCell)           (None, 20, 40)            5160
_________________________________________________________________
dense (Dense)                (None, 20, 1)             41
=================================================================
Total params: 5,201
Trainable params: 5,201
Non-trainable params: 0"""


def test_summary_has_the_seed_notebook_numbers():
    assert SEED_GRU_SUMMARY in summary(Config())
    lstm = summary(Config(cell="lstm"))
    assert "(None, 20, 40)            6720" in lstm and "Total params: 6,761" in lstm
    assert "Total params: 1,721" in summary(Config(cell="rnn"))
    assert "Total params: 5,121" in summary(Config(cell="flax_gru"))
    small = summary(Config(hidden=3, window=7), name="tiny")
    assert small.startswith('Model: "tiny"') and "(None, 7, 3)" in small


def test_forward_is_the_dense_head_on_every_hidden_state():
    cfg = Config(hidden=5)
    model = make_model(cfg)
    params = init_params(model, jax.random.key(3), cfg.window)
    x = jnp.sin(jnp.arange(cfg.window, dtype=jnp.float32))[:, None]
    carry = model.apply({"params": params}, 1, method=Regressor.zero_carry)
    _, h = model.apply({"params": params}, carry, x, method=Regressor.hidden)
    y = model.apply({"params": params}, x)
    head = params["head"]
    np.testing.assert_allclose(y, h @ head["kernel"] + head["bias"], atol=1e-6)
    assert y.shape == (cfg.window, 1)


def test_keras_head_is_glorot_uniform():
    cfg = Config()
    k = np.asarray(init_params(make_model(cfg), jax.random.key(0), 20)["head"]["kernel"])
    assert k.shape == (40, 1) and np.all(np.abs(k) <= np.sqrt(6 / 41))


def test_unrolling_the_time_scan_changes_no_number_that_matters():
    cfg = Config(hidden=6, epochs=3, seeds=2)
    loss = driver.train(cfg).history.loss
    assert make_model(cfg).unroll == default_unroll(cfg.window)
    assert default_unroll(20, "cpu") == 1 and default_unroll(20, "gpu") == 20
    for unroll in (4, cfg.window):
        assert make_model(cfg.replace(unroll=unroll)).unroll == unroll
        np.testing.assert_allclose(driver.train(cfg.replace(unroll=unroll)).history.loss, loss, rtol=1e-5)


def test_a_parallel_cell_scanned_step_by_step_trains_the_same():
    cfg = Config(cell="minlstm", hidden=6, epochs=3, seeds=2, time_scan="parallel")
    assert make_model(cfg).parallel and not make_model(cfg.replace(time_scan="sequential")).parallel
    parallel = driver.train(cfg).history.loss
    sequential = driver.train(cfg.replace(time_scan="sequential")).history.loss
    np.testing.assert_allclose(sequential, parallel, rtol=1e-5)


X_BxTxI = jnp.sin(jnp.arange(3 * 7, dtype=jnp.float32) / 2.0).reshape(3, 7, 1)


def setup(cell: str, layers: int = 2, **fields):
    cfg = Config(cell=cell, hidden=5, window=7, layers=layers, **fields)
    model = make_model(cfg)
    return cfg, model, init_params(model, jax.random.key(1), cfg.window)


def by_hand(cell: str, params, x_TxI, masks=None) -> np.ndarray:
    """y_TxO by NumPy loops: each layer's sequence from a zero state is the next one's input
    (with each layer's input mask and recurrent mask at every step), then the Dense head."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    h_TxH = np.asarray(x_TxI, np.float64)
    for k, name in enumerate(layer_names(len(p) - 1)):
        mask_in, mask_rec = (None, None) if masks is None else (np.asarray(m[k]) for m in masks)
        inputs = h_TxH if mask_in is None else h_TxH * mask_in
        state, hs = reference.zero_state(cell, p["head"]["kernel"].shape[0]), []
        for x in inputs:
            state, h = reference.step(cell, p[name], state, x, mask_rec)
            hs.append(h)
        h_TxH = np.stack(hs)
    return h_TxH @ p["head"]["kernel"] + p["head"]["bias"]


def test_a_second_layer_is_named_cell_1_and_reads_h_features():
    _, _, one = setup("gru", layers=1)
    _, _, two = setup("gru")
    assert set(one) == {"cell", "head"} and set(two) == {"cell", "cell_1", "head"}
    # adding a layer changes nothing below it, nor the head: layer 1 has its own key
    for name in ("cell", "head"):
        jax.tree.map(np.testing.assert_array_equal, one[name], two[name])
    assert two["cell_1"]["kernel"].shape == (5, 15) and two["cell_1"]["recurrent_kernel"].shape == (5, 15)
    assert np.all(np.abs(two["cell_1"]["kernel"]) <= np.sqrt(6 / (5 + 15)))  # glorot_uniform, fan_in H
    assert not np.allclose(two["cell_1"]["recurrent_kernel"], two["cell"]["recurrent_kernel"])
    # the Keras-init hook of a stock cell gets the upper layer's width and key too
    _, _, flax = setup("flax_gru")
    assert flax["cell_1"]["iz"]["kernel"].shape == (5, 5) and flax["cell"]["iz"]["kernel"].shape == (1, 5)
    assert not np.allclose(flax["cell_1"]["hz"]["kernel"], flax["cell"]["hz"]["kernel"])


@pytest.mark.parametrize(
    "cell, time_scan", [("gru", "auto"), ("lstm", "auto"), ("minlstm", "sequential"), ("minlstm", "parallel")]
)
def test_two_layers_are_two_one_layer_models_chained(cell, time_scan):
    _, model, params = setup(cell, time_scan=time_scan)
    assert model.parallel == (time_scan == "parallel")
    y = predict_batch(model, params, X_BxTxI)
    for b in range(len(X_BxTxI)):
        np.testing.assert_allclose(y[b], by_hand(cell, params, X_BxTxI[b]), atol=1e-5)


def test_a_two_layer_summary_lists_every_layer():
    text = summary(Config(layers=2))
    assert "gru (KerasGRUCell)           (None, 20, 40)            5160" in text
    assert "gru_1 (KerasGRUCell)         (None, 20, 40)            9840" in text  # 3 (40 x 40 + 40 x 40 + 2 x 40)
    assert "Total params: 15,041" in text


DROPOUT = Dropout(jax.random.key(5), jnp.float32(0.3), jnp.float32(0.4))


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn", "minlstm"])
def test_dropout_is_a_loop_applying_each_sequences_masks_at_every_step(cell):
    _, model, params = setup(cell)
    dropout = DROPOUT if cell != "minlstm" else DROPOUT._replace(recurrent=jnp.float32(0.0))  # no h U
    y = predict_batch(model, params, X_BxTxI, dropout)
    masks = dropout_masks(model, dropout, len(X_BxTxI), 1)
    for b in range(len(X_BxTxI)):
        mine = [(m.input[b], m.recurrent[b] if cell != "minlstm" else None) for m in masks]
        np.testing.assert_allclose(y[b], by_hand(cell, params, X_BxTxI[b], list(zip(*mine))), atol=1e-5)
    assert not np.allclose(y, predict_batch(model, params, X_BxTxI), atol=1e-3)


def test_flax_lstm_drops_out_as_the_keras_lstm_with_its_weights():
    _, keras_model, params = setup("lstm")
    _, flax_model, _ = setup("flax_lstm")
    mapped = {name: keras_lstm_to_flax(p) if name != "head" else p for name, p in params.items()}
    want = predict_batch(keras_model, params, X_BxTxI, DROPOUT)
    np.testing.assert_allclose(predict_batch(flax_model, mapped, X_BxTxI, DROPOUT), want, atol=1e-5)


def test_masks_are_inverted_dropout_drawn_per_sequence_and_layer():
    _, model, _ = setup("gru")
    rates = {"input": 0.3, "recurrent": 0.4}
    masks = dropout_masks(model, DROPOUT, 4000, 1)
    assert [m.input.shape for m in masks] == [(4000, 1), (4000, 5)]
    assert [m.recurrent.shape for m in masks] == [(4000, 5), (4000, 5)]
    for layer in masks:
        for kind, rate in rates.items():
            m = np.asarray(getattr(layer, kind))
            assert set(np.unique(m)) == {0.0, np.float32(1 / np.float32(1 - rate))}
            assert abs(np.mean(m > 0) - (1 - rate)) < 0.02
            assert len({tuple(row) for row in m}) > 1  # each sequence its own mask
    assert not np.array_equal(masks[0].recurrent, masks[1].recurrent)  # each layer its own
    zero = DROPOUT._replace(rate=jnp.float32(0.0), recurrent=jnp.float32(0.0))
    assert all(np.all(np.asarray(m) == 1.0) for m in jax.tree.leaves(dropout_masks(model, zero, 100, 1)))


LINEAR = ("mingru", "minlstm", "lru")
RATE_ZERO = [(c, "auto") for c in CELLS if c not in LINEAR[:2]] + [(c, "parallel") for c in LINEAR]


@pytest.mark.parametrize("cell, time_scan", RATE_ZERO)
def test_rate_zero_is_no_dropout(cell, time_scan):
    """Two seeds vmapped in one jit, as training runs them. The masks are exactly 1, so every
    masked value is the unmasked one; the step forms then give every output bit of no
    dropout. The parallel forms agree to float rounding only: XLA fuses their graph with
    the masks in otherwise (minGRU's, vmapped: one ulp)."""
    _, model, params = setup(cell, time_scan=time_scan)
    params_S = jax.tree.map(lambda a: jnp.stack([a, 0.5 * a]), params)
    zero = Dropout(jax.random.split(jax.random.key(9), 2), jnp.zeros(2), jnp.zeros(2))

    def predict(params, dropout):
        return predict_batch(model, params, X_BxTxI, dropout)

    dropped = jax.jit(jax.vmap(predict))(params_S, zero)
    plain = jax.jit(jax.vmap(lambda p: predict(p, None)))(params_S)
    if model.parallel:
        np.testing.assert_allclose(dropped, plain, rtol=1e-6, atol=1e-7)
    else:
        np.testing.assert_array_equal(dropped, plain)


def test_rate_zero_gradients_are_those_without_dropout():
    """To float rounding: XLA may fuse the multiply by the mask into a dot and sum in
    another order (seen: the LRU's D, one ulp); a Keras GRU's are the same bits here."""
    _, model, params = setup("gru")
    zero = Dropout(jax.random.key(9), jnp.float32(0.0), jnp.float32(0.0))
    grads = [jax.grad(lambda p, d=d: jnp.mean(predict_batch(model, p, X_BxTxI, d) ** 2))(params) for d in (zero, None)]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9), *grads)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_kernels_run_layer_by_layer_with_input_dropout(cell):
    """Pallas's interpreter here: each layer's kernel reads the layer below's h, its input
    masked as the XLA cells' is; the same numbers to float32 rounding."""
    _, xla, params = setup(cell)
    pallas = make_model(Config(cell=cell, hidden=5, window=7, layers=2, kernel="pallas"))
    inputs_only = DROPOUT._replace(recurrent=jnp.float32(0.0))  # the kernels take no recurrent mask
    for dropout in (None, inputs_only):
        want = predict_batch(xla, params, X_BxTxI, dropout)
        np.testing.assert_allclose(predict_batch(pallas, params, X_BxTxI, dropout), want, atol=1e-5)
