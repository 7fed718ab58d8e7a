import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from training import fit

from rnnjax.core import data, train
from rnnjax.core.config import Config
from rnnjax.core.model import init_params, make_model
from rnnjax.study import train as driver

TINY = Config(hidden=8, epochs=3, seeds=3)


def test_loss_falls_on_the_damped_series():
    result = driver.train(TINY.replace(epochs=40, seeds=2, hidden=16))
    loss, val = np.asarray(result.history.loss), np.asarray(result.history.val_loss)
    assert loss.shape == (2, 40) and val.shape == (2, 40)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(val))
    assert np.all(loss[:, -1] < 0.5 * loss[:, 0])
    assert np.all(val[:, -1] < val[:, 0])


@pytest.mark.parametrize(
    ("cfg", "rtol"),
    [(TINY, 1e-6), (TINY.replace(optimizer="adam", dropout=0.2, recurrent_dropout=0.2, layers=2), 1e-5)],
    ids=["sgd", "adam-dropout-layers"],
)
def test_seed_alone_equals_seed_in_batch(cfg, rtol):
    """Seed i trains the same alone or in a batch: its initial weights, shuffles and dropout
    masks come from its own key. (Programs of other batch sizes round differently in the
    last bits, which Adam's normalised steps carry further; another mask would differ by
    far more than this tolerance.)"""
    batch = driver.train(cfg.replace(seeds=4))
    alone = driver.train(cfg.replace(seeds=1), seeds=[2])
    pair = driver.train(cfg.replace(seeds=2), seeds=[2, 0])
    for other, row in ((alone, 0), (pair, 0)):
        np.testing.assert_allclose(other.history.loss[row], batch.history.loss[2], rtol=rtol)
        np.testing.assert_allclose(other.history.val_loss[row], batch.history.val_loss[2], rtol=rtol)
        for a, b in zip(jax.tree.leaves(other.params), jax.tree.leaves(batch.params), strict=True):
            np.testing.assert_allclose(a[row], b[2], atol=10 * rtol)
    assert not np.allclose(batch.history.loss[0], batch.history.loss[1])  # seeds differ


def plain_sgd(cfg: Config, model, params, orders) -> tuple[list, list, dict]:
    """Keras's fit written out: for each epoch's order of the training windows, SGD on
    batches of 10 (the last one partial), then the validation MSE. (losses, val losses, params)"""
    w = data.split(cfg)
    opt = optax.sgd(cfg.lr)
    state = opt.init(params)

    @jax.jit
    def mse(p, x, y):
        pred = jax.vmap(lambda xi: model.apply({"params": p}, xi))(x)
        return jnp.mean((pred - y) ** 2)

    mse_and_grad = jax.jit(jax.value_and_grad(mse))
    losses, vals = [], []
    for order in orders:
        total = 0.0
        for start in range(0, cfg.n_train, cfg.batch_size):
            idx = np.asarray(order[start : start + cfg.batch_size])
            loss, grads = mse_and_grad(params, w.x_train[idx], w.y_train[idx])
            updates, state = opt.update(grads, state)
            params = optax.apply_updates(params, updates)
            total += float(loss) * len(idx)
        losses.append(total / cfg.n_train)
        vals.append(float(mse(params, w.x_val, w.y_val)))
    return losses, vals, params


def fit_one(cfg: Config):
    model = make_model(cfg)
    init_keys, fit_keys = train.seed_keys(cfg)
    params = init_params(model, init_keys[0], cfg.window)
    return model, params, fit_keys[0], fit(cfg, model, params, fit_keys[0])


def test_one_epoch_matches_a_plain_python_loop_with_the_partial_batch():
    """No shuffle: batches are windows 0-9, ..., 150-159 and the partial batch 160-161."""
    cfg = Config(hidden=5, epochs=2, seeds=1, shuffle=False, lr=0.05)
    model, params, _, got = fit_one(cfg)
    losses, vals, params = plain_sgd(cfg, model, params, [np.arange(162)] * 2)
    np.testing.assert_allclose(got.history.loss, losses, rtol=1e-5)
    np.testing.assert_allclose(got.history.val_loss, vals, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), got.params, params)


def test_every_epoch_reshuffles():
    cfg = Config(hidden=5, epochs=3, seeds=1, lr=0.05)
    w = data.split(cfg)
    a = train.epoch_batches(cfg, w, jax.random.permutation(jax.random.key(0), cfg.n_train))
    assert a.x_BxTxI.shape == (17, 10, 20, 1) and a.mask_B.shape == (17, 10)
    assert float(a.mask_B.sum()) == 162 and float(a.mask_B[-1].sum()) == 2
    # every training window exactly once per epoch
    firsts = np.asarray(a.x_BxTxI[..., 0, 0])[np.asarray(a.mask_B) > 0]
    np.testing.assert_array_equal(np.sort(firsts), np.sort(w.x_train[:, 0, 0]))
    # each epoch's order comes from that epoch's split of the run's key (docs/performance.md: How it runs)
    model, params, key, got = fit_one(cfg)
    orders = []
    for _ in range(cfg.epochs):
        key, k_order = jax.random.split(key)
        orders.append(np.asarray(jax.random.permutation(k_order, cfg.n_train)))
    assert not np.array_equal(orders[0], orders[1])
    fresh, _, _ = plain_sgd(cfg, model, params, orders)
    reused, _, _ = plain_sgd(cfg, model, params, [orders[0]] * cfg.epochs)
    np.testing.assert_allclose(got.history.loss, fresh, rtol=1e-5)
    np.testing.assert_allclose(got.history.loss[0], reused[0], rtol=1e-5)
    # the same order every epoch would give other losses from the second epoch on
    gap = np.abs(np.asarray(got.history.loss)[1:] - np.asarray(reused)[1:])
    assert np.all(gap > 1e-4 * np.abs(np.asarray(reused)[1:])), gap


def test_chunked_training_equals_one_program():
    cfg = TINY.replace(epochs=7)
    one = driver.train(cfg)
    seen = []
    chunked = driver.train_chunked(cfg, 3, on_chunk=lambda p: seen.append((p.epoch, p.history.loss.shape)))
    assert seen == [(3, (3, 3)), (6, (3, 6)), (7, (3, 7))]
    assert driver.chunk_lengths(7, 3) == [3, 3, 1] and driver.chunk_lengths(6, 3) == [3, 3]
    np.testing.assert_array_equal(chunked.result.history.loss, one.history.loss)
    np.testing.assert_array_equal(chunked.result.history.val_loss, one.history.val_loss)
    for a, b in zip(jax.tree.leaves(chunked.result.params), jax.tree.leaves(one.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert chunked.compile_s > 0 and chunked.train_s > 0


def test_diverging_seeds_are_frozen_flagged_and_isolated():
    cfg = Config(hidden=8, epochs=10, seeds=8, lr=0.7)  # some seeds blow up at this rate, some do not
    run = driver.train(cfg)
    loss = np.asarray(run.history.loss)
    epochs = np.asarray(run.diverged_epoch)
    bad, good = np.flatnonzero(epochs > 0), np.flatnonzero(epochs == 0)
    assert len(bad) and len(good)
    for s in bad:
        e = epochs[s]
        assert np.all(np.isfinite(loss[s, : e - 1])) and np.all(np.isnan(loss[s, e - 1 :]))
    assert np.all(np.isfinite(loss[good]))
    for leaf in jax.tree.leaves(run.params):  # frozen at the last finite state
        assert np.all(np.isfinite(leaf))
    alone = driver.train(cfg.replace(seeds=len(good)), seeds=good)
    np.testing.assert_array_equal(alone.history.loss, loss[good])
    for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(run.params), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b)[good])


def test_resuming_from_any_chunk_equals_an_uninterrupted_run():
    cfg = TINY.replace(epochs=7, seeds=3)
    whole = driver.train(cfg)
    saved = []
    driver.train_chunked(cfg, 2, on_chunk=saved.append)
    assert [p.epoch for p in saved] == [2, 4, 6, 7]
    assert saved[1].state.key.dtype == np.uint32 and saved[1].state.epoch.tolist() == [4, 4, 4]
    for progress in (saved[0], saved[1], saved[-1]):  # the last one has nothing left to train
        resumed = driver.train_chunked(cfg, 3, resume=progress).result
        np.testing.assert_array_equal(resumed.history.loss, whole.history.loss)
        np.testing.assert_array_equal(resumed.history.val_loss, whole.history.val_loss)
        for a, b in zip(jax.tree.leaves(resumed.params), jax.tree.leaves(whole.params), strict=True):
            np.testing.assert_array_equal(a, b)
    one_device = driver.train_chunked(cfg, 5, resume=saved[0], devices=jax.devices()[:1]).result
    np.testing.assert_array_equal(one_device.history.loss, whole.history.loss)


def test_default_checkpoint_interval_scales_with_run_length():
    from rnnjax.study.runner import default_chunk

    assert [default_chunk(e) for e in (1, 19, 100, 1000, 5000)] == [1, 1, 5, 50, 50]


def test_a_finite_but_runaway_loss_counts_as_diverged(monkeypatch):
    """DIVERGED_ABOVE x the loss of predicting zero: lowered here so that every seed passes it."""
    cfg = TINY.replace(epochs=4, seeds=2)
    assert np.all(np.asarray(driver.train(cfg).diverged_epoch) == 0)
    monkeypatch.setattr(train, "DIVERGED_ABOVE", 1e-3)
    monkeypatch.setattr(driver, "_programs", type(driver._programs)())  # compile again with the new limit
    run = driver.train(cfg)
    np.testing.assert_array_equal(run.diverged_epoch, [1, 1])
    assert np.all(np.isnan(np.asarray(run.history.loss)))


def test_chunks_end_once_every_run_has_stopped_early():
    """The driver skips the epochs left when every run has stopped: the same history (NaN
    after each run's stop), parameters and epochs as one program over every epoch."""
    cfg = TINY.replace(epochs=60, seeds=2, optimizer="adam", lr=0.05, patience=2)
    whole = driver.train(cfg)
    chunks = []
    chunked = driver.train_chunked(cfg, 5, on_chunk=lambda p: chunks.append(p.epoch)).result
    assert chunks[-1] < cfg.epochs and chunks[-1] >= whole.stopped_epoch.max()
    np.testing.assert_array_equal(chunked.history.val_loss, whole.history.val_loss)
    np.testing.assert_array_equal(chunked.stopped_epoch, whole.stopped_epoch)
    np.testing.assert_array_equal(chunked.best_epoch, whole.best_epoch)
    jax.tree.map(np.testing.assert_array_equal, chunked.params, whole.params)
