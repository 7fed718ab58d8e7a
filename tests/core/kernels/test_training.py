"""`Config.kernel="pallas"` against the XLA path it replaces: the same per-epoch losses, the
same gradients of the model's loss, a whole training epoch lowered for CUDA (Triton) on a
CPU machine, and cells without a kernel refused."""

import re
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnjax.core import data, train
from rnnjax.core.config import Config, ConfigError
from rnnjax.core.kernels import SUPPORTED
from rnnjax.core.model import make_model
from rnnjax.study import train as driver

TRITON_CALL = "__gpu$xla.gpu.triton"


def tiny(cell: str, **changes) -> Config:
    """The default data (162 training windows: a partial last batch of 2) on a tiny model."""
    return Config(cell=cell, hidden=8, seeds=2, epochs=3, **changes)


@pytest.mark.parametrize("cell", SUPPORTED)
def test_per_epoch_losses_match_xla(cell):
    cfg = tiny(cell)
    assert cfg.n_train % cfg.batch_size != 0
    xla, pallas = driver.train(cfg), driver.train(cfg.replace(kernel="pallas"))
    for field in ("loss", "val_loss"):
        got, expect = getattr(pallas.history, field), getattr(xla.history, field)
        assert got.shape == (2, 3) and np.all(np.isfinite(expect))
        np.testing.assert_allclose(got, expect, rtol=1e-5)
    for g, e in zip(jax.tree.leaves(pallas.params), jax.tree.leaves(xla.params), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell", SUPPORTED)
def test_model_loss_gradient_matches_xla(cell):
    """jax.grad of the masked minibatch loss (the partial last batch: 2 real rows of 10),
    vmapped over seeds as in training, with the biases moved off their initial values."""
    cfg = tiny(cell)
    init_keys, _ = train.seed_keys(cfg)
    params = train.init_seeds(cfg, init_keys)
    bias = params["cell"]["bias"]
    bias = bias + 0.3 * jax.random.normal(jax.random.key(1), bias.shape)
    params = {**params, "cell": {**params["cell"], "bias": bias}}
    batches = train.epoch_batches(cfg, data.split(cfg), jnp.arange(cfg.n_train))
    last = jax.tree.map(lambda a: a[-1], batches)
    assert float(last.mask_B.sum()) == cfg.n_train % cfg.batch_size

    def grads(kernel):
        loss = partial(train.batch_loss, make_model(cfg.replace(kernel=kernel)))
        traced = jax.jit(jax.vmap(jax.value_and_grad(loss), in_axes=(0, None))).trace(params, last)
        return traced.lower().compile()(params, last), str(traced.jaxpr)

    (loss_p, got), jaxpr_p = grads("pallas")
    (loss_x, expect), jaxpr_x = grads("xla")
    assert "pallas_call" in jaxpr_p and "pallas_call" not in jaxpr_x
    np.testing.assert_allclose(loss_p, loss_x, rtol=1e-6)
    assert jax.tree.structure(got) == jax.tree.structure(expect)
    for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expect), strict=True):
        assert g.shape == e.shape and float(jnp.abs(e).max()) > 0
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5 * float(jnp.abs(e).max()))


def test_training_epochs_lower_for_cuda():
    """What a GPU run compiles, the seeds-vmapped epochs of the trainer, lowered for CUDA here:
    per epoch a Triton forward and backward for the minibatch steps and a forward for the
    validation loss, each with the seeds as a grid axis."""
    cfg = tiny("lstm", kernel="pallas")
    trainer = train.make_trainer(cfg, make_model(cfg))
    init_keys, fit_keys = train.seed_keys(cfg)
    state = jax.vmap(trainer.init)(train.init_seeds(cfg, init_keys), fit_keys)
    epochs = jax.jit(jax.vmap(partial(trainer.epochs, n=2), in_axes=(0, None)))
    checks = [jax.export.DisabledSafetyCheck.custom_call(TRITON_CALL)]
    exported = jax.export.export(epochs, platforms=("cuda",), disabled_checks=checks)(state, data.split(cfg))
    text = exported.mlir_module()
    assert text.count(f"@{TRITON_CALL}(") == 3
    grids = re.findall(r"grid_x = (\d+) : i32, grid_y = (\d+) : i32, grid_z = (\d+) : i32", text)
    assert len(grids) == 3 and all(sorted(map(int, g)) == [1, 1, cfg.seeds] for g in grids)


def test_cells_without_a_kernel_are_refused():
    assert Config().kernel == "xla"
    with pytest.raises(ConfigError, match=r"^kernel='pallas' is not allowed for cell='mingru': .* gru, lstm$"):
        Config(cell="mingru", kernel="pallas")
    with pytest.raises(ConfigError, match=r"^kernel='triton' is not allowed: must be one of xla, pallas$"):
        Config(kernel="triton")
