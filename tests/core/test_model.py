import jax
import jax.numpy as jnp
import numpy as np

from rnnjax.core.config import Config
from rnnjax.core.model import Regressor, default_unroll, init_params, make_model, summary
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
