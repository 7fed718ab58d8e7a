"""rnnjax: compare recurrent cells properly, many seeds at once, in JAX/Flax.

    import rnnjax as rj
    r = rj.run(rj.Config(cell="gru", seeds=8, epochs=200))   # one model end to end
    r.params, r.loss, r.val_loss, r.forecast                  # [seeds, ...] NumPy arrays
    rj.run_study(study, folder="runs/mine")                   # the scripts' run folder, resumable
    folder = rj.load_run("runs/mine")                         # a finished experiment or sweep
    folder["gru"][0].params
    rj.report("runs/mine")                                    # its report and figures redrawn

The package is three layers: `rnnjax.core` (config, data, cells, model, train, forecast:
the maths), `rnnjax.study` (the runner, metrics, statistics, report, figures, run folders,
checkpoints) and `rnnjax.scaling` (host devices, sharding, memory, processes, benchmark).
The names below load on first use, so that analysis code importing only `rnnjax.study`'s
NumPy modules does not start JAX. Importing changes nothing global: the first computation
(`run`, `run_study`, `train`) asks XLA for one host device per core
(`rnnjax.scaling.runtime.use_all_cores`), whether or not jax came first.
"""

from importlib import import_module

_API = {
    "Config": "rnnjax.core.config",
    "ConfigError": "rnnjax.core.config",
    "CELLS": "rnnjax.core.cells",
    "SERIES": "rnnjax.core.data",
    "METRICS": "rnnjax.study.metrics",
    "Result": "rnnjax.study.results",
    "Study": "rnnjax.study.grid",
    "make_grid": "rnnjax.study.grid",
    "run": "rnnjax.study.runner",
    "run_study": "rnnjax.study.run_folder",
    "report": "rnnjax.study.run_folder",
    "train": "rnnjax.study.train",
    "forecast": "rnnjax.core.forecast",
    "load_run": "rnnjax.study.outputs",
}
__all__ = [
    "CELLS",
    "METRICS",
    "SERIES",
    "Config",
    "ConfigError",
    "Result",
    "Study",
    "forecast",
    "load_run",
    "make_grid",
    "report",
    "run",
    "run_study",
    "train",
]  # the keys of _API


def __getattr__(name: str):
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnnjax' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
