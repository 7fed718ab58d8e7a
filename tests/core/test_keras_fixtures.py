"""rnnjax against Keras 3 itself: golden fixtures that Keras wrote (tests/fixtures/keras,
made by its generate.py through the optional `keras` extra), so the suite needs no Keras.
Each holds Keras's initial weights, its per-epoch losses and its final weights for one
optimiser, schedule, clipping, early-stopping, stacked-layer or several-channel case
(shuffle off). rnnjax
starts from the same weights on the same windows and must end where Keras did."""

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import pytest
from training import fit

from rnnjax.core import data
from rnnjax.core.config import Config
from rnnjax.core.model import make_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "keras"
# The update rules do not depend on the cell: every case runs on the GRU, and the optimisers
# themselves, early stopping and stacking on the LSTM too (each fixture compiles a program)
BOTH_CELLS = (
    "sgd",
    "sgd_momentum",
    "adam",
    "adam_lr01",
    "rmsprop",
    "rmsprop_lr01",
    "adamw",
    "adamw_wd05",
    "adam_early",
)
BOTH_CELLS += ("stacked_sgd", "stacked_adam", "channels_sgd", "channels_adam")
CASES = [p for p in sorted(FIXTURES.glob("*.npz")) if p.stem.endswith("_gru") or p.stem[: -len("_lstm")] in BOTH_CELLS]
FIELDS = {f.name for f in dataclasses.fields(Config)}


def _weights(fixture, which: str) -> dict:
    params: dict = {}
    for key in fixture.files:
        if key.startswith(which + "/"):
            _, layer, name = key.split("/")
            params.setdefault(layer, {})[name] = np.asarray(fixture[key], np.float32)
    return params


def test_the_fixtures_are_there():
    assert len(list(FIXTURES.glob("*.npz"))) == 48, f"expected Keras's 48 fixtures in {FIXTURES}"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_training_equals_keras(path):
    with np.load(path) as fixture:
        recorded = json.loads(str(fixture["config"]))
        cfg = Config(**{k: v for k, v in recorded.items() if k in FIELDS})
        windows = data.split(cfg)
        for name in ("x_train", "y_train", "x_val", "y_val"):  # Keras saw the windows rnnjax builds
            np.testing.assert_array_equal(getattr(windows, name), fixture[name])
        got = fit(cfg, make_model(cfg), _weights(fixture, "init"), jax.random.key(0))
        epochs = int(fixture["epochs_run"])
        loss, val_loss = np.asarray(got.history.loss), np.asarray(got.history.val_loss)
        np.testing.assert_allclose(loss[:epochs], fixture["loss"], rtol=1e-5)
        np.testing.assert_allclose(val_loss[:epochs], fixture["val_loss"], rtol=1e-5)
        final = _weights(fixture, "final")
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), got.params, final)
        moved = max(
            float(np.max(np.abs(a - b))) for a, b in zip(*map(jax.tree.leaves, (final, _weights(fixture, "init"))))
        )
        assert moved > 1e-3, "the weights should move in a fixture that tests an update rule"
        if cfg.patience:  # Keras's epochs are 0-based, and its stopped_epoch 0 means it never stopped
            stopped = int(fixture["stopped_epoch"])
            assert int(got.stopped_epoch) == (stopped + 1 if stopped else 0)
            assert epochs == (stopped + 1 if stopped else cfg.epochs)
            assert int(got.best_epoch) == int(fixture["best_epoch"]) + 1
            assert np.isnan(loss[epochs:]).all()
        else:
            assert epochs == cfg.epochs
