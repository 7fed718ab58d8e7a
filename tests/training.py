"""One run trained straight from the core's pure functions (no driver, no devices): what the
core tests compare against NumPy loops and Keras's equations."""

import jax

from rnnjax.core import data, train
from rnnjax.core.config import Config


def fit(cfg: Config, model, params, key) -> train.TrainResult:
    """cfg.epochs epochs of one run from `params`, shuffled by `key`, in one jit."""
    trainer = train.make_trainer(cfg, model)

    def run(params, key):
        state, history = trainer.epochs(trainer.init(params, key), data.split(cfg), cfg.epochs)
        return train.TrainResult(state.params, history, state.diverged_epoch)

    return jax.jit(run)(params, key)
