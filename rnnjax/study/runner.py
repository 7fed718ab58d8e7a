"""The one runner: a study (models x grid points x seeds) trained, checkpointed, resumed,
forecast and scored along one code path, whatever its size.

Two sizes, two words: a *chunk* is a number of epochs compiled as one program (a checkpoint
after each); a *block* (a unit) is a number of runs trained together (`seed_chunk` caps it).
A model's runs (`grid.grid_runs`: point-major, seed-minor) are cut into units: first into
one contiguous block per process, then by shape (one compiled program per hidden size and
window), then into chunks of at most `seed_chunk` runs (memory; the last one padded to the
same size, so one program serves all). A unit trains as compiled chunks of `chunk` epochs
over every local device; after each, its checkpoint is saved, so that a killed study
resumes where it stopped with bit-identical results. The main experiment is the study with
one grid point: one unit per model.
"""

import hashlib
import json
import time
from pathlib import Path
from typing import NamedTuple, Protocol

import jax
import numpy as np

from rnnjax.core import data as data_lib
from rnnjax.core.config import Config, ConfigError
from rnnjax.core.forecast import forecast
from rnnjax.core.model import init_params, make_model
from rnnjax.core.train import History, Progress, Runs, traits_of
from rnnjax.scaling import distributed, memory, runtime
from rnnjax.study import checkpoint, folders
from rnnjax.study.grid import Study, at_point, check_study, grid_runs, point_values, shape_groups, single
from rnnjax.study.results import Result, Timing
from rnnjax.study.train import train_chunked

PLAN_VERSION = 1


def default_chunk(epochs: int) -> int:
    """Epochs per compiled chunk (and checkpoint): about 20 per run, at most 50 epochs apart,
    which is every few seconds here and costs nothing measurable."""
    return max(1, min(50, epochs // 20))


class Unit(NamedTuple):
    """A block of one model's runs [start, stop) trained in one program of `size` runs."""

    model: str
    start: int
    stop: int
    size: int  # >= stop - start: a short last block is padded by repeating its runs

    @property
    def count(self) -> int:
        return self.stop - self.start

    def checkpoint(self, folder: Path) -> Path:
        return folder / "checkpoints" / self.model / f"runs-{self.start}-{self.stop}.ckpt"


class Monitor(Protocol):
    """What the runner reports; the command-line front ends show it (progress bars, Ctrl-C)."""

    def start_model(self, name: str, cfg: Config, units: list[Unit], done: dict[Unit, int]) -> None: ...

    def chunk(self, unit: Unit, progress: Progress) -> None: ...

    def end_model(self, name: str, cfg: Config, timing: Timing) -> None: ...


class Quiet:
    def start_model(self, name, cfg, units, done):
        pass

    def chunk(self, unit, progress):
        pass

    def end_model(self, name, cfg, timing):
        pass


def point_config(study: Study, name: str, g: int) -> Config:
    return at_point(study.grid, study.configs[name], study.grid.points[g])


def plan(study: Study, seed_chunk: int | None, epochs_per_chunk: int, devices, index: int, count: int) -> list[Unit]:
    """Process `index` of `count`'s units, model by model, in run order."""
    devices = jax.local_devices() if devices is None else devices
    units = []
    for name, cfg in study.configs.items():
        runs = grid_runs(study.grid, study.seeds, cfg)
        start, stop = distributed.block(runs.count, index, count)
        for group in shape_groups(study.grid, study.seeds):
            lo, hi = max(start, group.start), min(stop, group.stop)
            if lo >= hi:
                continue
            shaped = cfg.replace(**group.shape)
            mine = runs.take(np.arange(lo, hi))
            size = min(seed_chunk or memory.runs_that_fit(shaped, mine, devices, epochs_per_chunk), hi - lo)
            units += [Unit(name, a, min(a + size, hi), size) for a in range(lo, hi, size)]
    return units


def check_memory(study: Study, seed_chunk: int | None, devices=None, processes: int = 1) -> None:
    """Refuse (memory.TooBig, one line) a study whose largest program would not fit, from
    shapes alone: before anything is compiled or written. On a GPU without --seed-chunk the
    runs are chunked to fit, so one run per device must fit."""
    devices = jax.local_devices() if devices is None else devices
    for name, cfg in study.configs.items():
        for group in shape_groups(study.grid, study.seeds):  # from the points: no [runs] arrays before refusing
            n = -(-(group.stop - group.start) // processes)
            if seed_chunk is not None:
                n = min(n, seed_chunk)
            elif memory.free_device_bytes(devices) is not None:
                n = min(n, len(devices))
            points = slice(group.start // study.seeds, group.stop // study.seeds)
            traits = traits_of(point_values(study.grid, cfg, points))
            where = f"{name} at {group.shape}" if group.shape else name
            memory.check_fits(cfg.replace(**group.shape), n, traits, devices, where)


def _plan_path(folder: Path, index: int) -> Path:
    return folder / "checkpoints" / f"plan-{index}.json"


def _study_record(study: Study) -> dict:
    """What a plan was made for: a saved plan is used only for the same study."""
    configs = {name: cfg.as_dict() for name, cfg in study.configs.items()}
    return {"configs": configs, "grid": study.grid.points}


def study_digest(study: Study) -> str:
    """SHA-256 of what `study` trains (its models' configs and its grid points): the
    processes of a multi-process sweep must all bring the same."""
    return hashlib.sha256(json.dumps(_study_record(study), sort_keys=True).encode()).hexdigest()


def load_or_plan(study, folder, seed_chunk, epochs_per_chunk, devices, index, count) -> list[Unit]:
    """The plan this process saved in `folder` when the study started, else a new one (saved
    there): an automatic block of runs depends on the free memory, which a resumed study
    must not re-measure, or its programs, and so its last float digits, could differ."""
    path = None if folder is None else _plan_path(folder, index)
    if path is not None and path.exists():
        try:
            saved = json.loads(path.read_text())
            units = [Unit(str(m), int(a), int(b), int(s)) for m, a, b, s in saved["units"]]
            if any(u.model not in study.configs for u in units):  # names become paths: only the study's
                raise ValueError("unknown model")
            if any(not 0 <= u.start < u.stop <= u.start + u.size for u in units):
                raise ValueError("a unit out of range")
            version, processes, made_for = saved["version"], int(saved["processes"]), saved["study"]
        except (ValueError, KeyError, TypeError, OSError, RecursionError):
            raise checkpoint.CheckpointError(f"{str(path)!r} is damaged; the study cannot be resumed") from None
        if version != PLAN_VERSION or made_for != json.loads(json.dumps(_study_record(study))):
            raise checkpoint.CheckpointError(f"{str(path)!r} was made for another study; not resumed")
        if processes != count:
            raise checkpoint.CheckpointError(
                f"this study ran as {processes} process(es), not {count}: resume it with the same "
                "--num-processes (each process's checkpoints hold its own block of runs)"
            )
        return units
    units = plan(study, seed_chunk, epochs_per_chunk, devices, index, count)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        units_record = [list(u) for u in units]
        record = {"version": PLAN_VERSION, "processes": count, "study": _study_record(study), "units": units_record}
        folders.write_json(path, record)
    return units


class UnitOutputs(NamedTuple):
    """A unit's real runs: NumPy arrays with a leading run axis."""

    params: dict
    history: History
    diverged_epoch: np.ndarray
    forecast: np.ndarray
    stopped_epoch: np.ndarray | None = None  # early stopping only
    best_epoch: np.ndarray | None = None


def _unit_runs(runs: Runs, unit: Unit) -> Runs:
    return runs.take(np.resize(np.arange(unit.start, unit.stop), unit.size))


def run_unit(cfg: Config, runs: Runs, unit: Unit, chunk: int, folder: Path | None, monitor, devices=None) -> tuple:
    """Train one unit (from its checkpoint if it has one), roll it out: (UnitOutputs, Timing)."""
    block = _unit_runs(runs, unit)
    path = None if folder is None else unit.checkpoint(folder)
    resume = checkpoint.load(path, cfg, block) if path is not None and path.exists() else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)

    def on_chunk(progress: Progress):
        if path is not None:
            checkpoint.save(path, cfg, block, progress)
        monitor.chunk(unit, progress)

    training = train_chunked(cfg, chunk, on_chunk, devices=devices, resume=resume, runs=block)
    t0 = time.perf_counter()
    result = training.result
    pred = forecast(cfg, result.params, block)
    forecast_s = time.perf_counter() - t0
    real = np.arange(unit.count)
    outputs = UnitOutputs(
        result.params, result.history, result.diverged_epoch, pred, result.stopped_epoch, result.best_epoch
    )
    outputs = jax.tree.map(lambda a: np.asarray(a)[real], outputs)
    return outputs, Timing(training.compile_s, training.train_s, forecast_s)


def _done_epochs(units: list[Unit], folder: Path | None) -> dict[Unit, int]:
    """Epochs each unit's checkpoint says are done (for a resumed progress bar)."""
    paths = {unit: None if folder is None else unit.checkpoint(folder) for unit in units}
    return {unit: checkpoint.read_epoch(p) if p is not None and p.exists() else 0 for unit, p in paths.items()}


def _no_outputs(cfg: Config) -> UnitOutputs:
    """The outputs of zero runs (a process with no share of a shape's runs)."""
    model = make_model(cfg)
    params = jax.eval_shape(lambda: init_params(model, jax.random.key(0), cfg.window))
    empty = np.zeros((0, cfg.epochs), np.float32)
    stops = (np.zeros(0, np.int32), np.zeros(0, np.int32)) if cfg.patience > 0 else ()
    return UnitOutputs(
        jax.tree.map(lambda s: np.zeros((0, *s.shape), s.dtype), params),
        History(*(empty for _ in History._fields)),
        np.zeros(0, np.int32),
        np.zeros((0, *data_lib.forecast_truth(cfg)[1].shape), np.float32),  # [0, steps(, targets)]
        *stops,
    )


def run_model(study: Study, name: str, units: list[Unit], chunk: int, folder, monitor, devices) -> list[Result]:
    """Every grid point's Result of one model (this process trains `units`; with several
    processes, every process's units are gathered)."""
    base = study.configs[name]
    runs = grid_runs(study.grid, study.seeds, base)
    mine = [u for u in units if u.model == name]
    monitor.start_model(name, base, mine, _done_epochs(mine, folder))
    timing = Timing(0.0, 0.0, 0.0)
    points = []  # (grid point, its rows)
    for group in shape_groups(study.grid, study.seeds):
        cfg = base.replace(**group.shape)
        parts = []
        for unit in (u for u in mine if group.start <= u.start < group.stop):
            out, t = run_unit(cfg, runs, unit, chunk, folder, monitor, devices)
            parts.append(out)
            timing = timing + t
        counts = [
            max(0, min(b, group.stop) - max(a, group.start))
            for a, b in (distributed.block(runs.count, p, jax.process_count()) for p in range(jax.process_count()))
        ]
        local = jax.tree.map(lambda *a: np.concatenate(a), *parts) if parts else _no_outputs(cfg)
        if len(local.forecast) != counts[jax.process_index()]:
            raise checkpoint.CheckpointError(f"the plan's units do not cover {name}'s runs; not resumed")
        rows = distributed.gather(local, counts)
        for g in range(group.start // study.seeds, group.stop // study.seeds):
            first = g * study.seeds - group.start
            points.append((g, jax.tree.map(lambda a, i=first: a[i : i + study.seeds], rows)))
    monitor.end_model(name, base, timing)
    results = []
    for g, p in points:
        cfg_g = point_config(study, name, g)
        context, truth = data_lib.forecast_truth(cfg_g)
        stops = (p.stopped_epoch, p.best_epoch)
        results.append(Result(cfg_g, p.params, p.history, p.diverged_epoch, p.forecast, context, truth, timing, *stops))
    return results


def check_environment() -> None:
    """Refuse JAX's 64-bit mode and a bad XLA device count in one line, before anything
    computes or is written; then the backend starts, or says in one line why it cannot."""
    try:
        runtime.precision_setting()
        runtime.xla_flags_setting()
    except ValueError as err:
        raise ConfigError(str(err)) from None
    problem = runtime.backend_problem()
    if problem is not None:
        raise ConfigError(problem)


def run_study(
    study: Study,
    folder: Path | None = None,
    chunk: int | None = None,
    seed_chunk: int | None = None,
    monitor: Monitor | None = None,
    devices=None,
) -> dict[str, list[Result]]:
    """Train, checkpoint (in `folder`, if given; resuming from what is there), forecast and
    gather every model of `study`: {model: [Result per grid point]}."""
    runtime.use_all_cores()  # before the first computation: one host device per core
    check_environment()
    check_study(study)
    first = next(iter(study.configs.values()))
    chunk = default_chunk(first.epochs) if chunk is None else min(chunk, first.epochs)
    devices = jax.local_devices() if devices is None else devices
    units = load_or_plan(study, folder, seed_chunk, chunk, devices, jax.process_index(), jax.process_count())
    monitor = monitor or Quiet()
    return {name: run_model(study, name, units, chunk, folder, monitor, devices) for name in study.configs}


def run(cfg: Config, chunk: int | None = None, seed_chunk: int | None = None) -> Result:
    """One model end to end, in memory: cfg.seeds seeds of cfg.cell trained over every
    local device, rolled out closed loop. The Result holds the trained parameters
    ([seeds, ...]), `loss` and `val_loss` [seeds, epochs] and `forecast` [seeds, horizon].
    A backtest of several origins has a Result per origin: `run_study` returns them."""
    if not isinstance(cfg, Config):
        raise ConfigError(f"rj.run takes a Config, not a {type(cfg).__name__}: rj.run(rj.Config(...))")
    if cfg.forecast_protocol == "backtest" and cfg.origins > 1:
        raise ConfigError(
            f"rj.run returns one Result, and protocol='backtest' with origins={cfg.origins} has one per origin: "
            "use rj.run_study(rj.Study({name: cfg}, rj.make_grid(cfg))), whose grid spans every origin "
            "(origin k alone: c = cfg.replace(fold=k); rj.make_grid(c, {'fold': [k]}))"
        )
    return run_study(single(cfg), chunk=chunk, seed_chunk=seed_chunk)[cfg.cell][0]
