"""One run trained straight from the core's pure functions (no driver, no devices): what the
core tests compare against NumPy loops and Keras's equations."""

import jax

from rnnjax.core import data, train
from rnnjax.core.config import Config


def fit(cfg: Config, model, params, key, windows: data.Windows | None = None) -> train.TrainResult:
    """cfg.epochs epochs of one run from `params`, shuffled by `key`, in one jit, on
    `windows` (default: the config's own); the parameters it ends with (early stopping's
    restored ones) and, with early stopping, its stopped and best epochs."""
    trainer = train.make_trainer(cfg, model)
    windows = data.split(cfg) if windows is None else windows

    def run(params, key):
        state, history = trainer.epochs(trainer.init(params, key), windows, cfg.epochs)
        stops = () if state.stop is None else (state.stop.stopped_epoch, state.stop.best_epoch)
        return train.TrainResult(train.final_params(state), history, state.diverged_epoch, *stops)

    return jax.jit(run)(params, key)
