"""The command line of a study: flags made from the Config fields, one-line errors and exit
status 2, new and resumed run folders, progress bars and Ctrl-C."""

import argparse
import contextlib
import dataclasses
import math
import os
import shlex
import signal
import sys
import time
import typing
from pathlib import Path
from typing import NoReturn

import numpy as np
from tqdm import tqdm

from rnnjax.core.config import Config, ConfigError
from rnnjax.study import disk, folders, outputs
from rnnjax.study.interrupts import EXIT_INTERRUPTED, CtrlC, interrupted_now, main_guard  # noqa: F401 (main_guard: the scripts')
from rnnjax.study.report import fmt  # also cli.fmt: the scripts print statistics as the report does

EXIT_USAGE = 2  # a mistake the user can fix, said in one line


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag (or a bad RNNJAX_HOST_DEVICES) in one line, without
    the usage block. A flag's `help` may be a function, called whenever the help is shown, so
    that it names what the registries hold then (a cell that user code registered after the
    parser was made, too)."""

    def add_argument(self, *args, **kwargs):
        text = kwargs.get("help")
        if callable(text):
            kwargs["help"] = ""  # until shown: see format_help
        action = super().add_argument(*args, **kwargs)
        if callable(text):
            action.help_now = text
        return action

    def format_help(self) -> str:
        for action in self._actions:
            if hasattr(action, "help_now"):
                action.help = action.help_now().replace("%", "%%")  # argparse %-formats help
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: error: {message}")

    def parse_args(self, args=None, namespace=None):
        from rnnjax.scaling import runtime

        try:
            runtime.host_devices_setting()
            runtime.precision_setting()
            runtime.xla_flags_setting()
        except ValueError as err:
            fail(f"error: {err}")
        return super().parse_args(args, namespace)


def start_backend() -> None:
    """Start JAX's backend now, or exit 2 in one line saying why it cannot start here (after
    jax.distributed, for a sweep over processes)."""
    from rnnjax.scaling import runtime

    problem = runtime.backend_problem()
    if problem is not None:
        fail(f"error: {problem}")


def fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _finite_float(text: str) -> float:
    value = float(text)  # ValueError becomes argparse's "invalid value" message
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(text)
    return lowered in ("true", "1", "yes")


_finite_float.__name__ = "finite number"  # argparse names the type in its message
_bool.__name__ = "true/false"
_PARSERS = {int: int, float: _finite_float, str: str, bool: _bool}


DERIVED = ("data_sha256",)  # set from the data, not by hand


def choices() -> dict[str, tuple[str, ...]]:
    """The allowed values of each Config field that a registry or a fixed list backs, read
    now, so that names registered by user code are listed too (Config's checks read the same
    registries; a test keeps the two agreeing)."""
    from rnnjax.core import config, optim, series
    from rnnjax.core.cells import CELLS, SCHEMES

    return {
        "series": tuple(series.SERIES),
        "normalize": tuple(series.NORMALIZE),
        "cell": tuple(CELLS),
        "init": tuple(SCHEMES),
        "time_scan": tuple(config.TIME_SCANS),
        "kernel": tuple(config.KERNELS),
        "optimizer": tuple(optim.OPTIMIZERS),
        "schedule": tuple(optim.SCHEDULES),
        "protocol": tuple(config.PROTOCOLS),
        "forecast_mode": tuple(config.FORECAST_MODES),
    }


def one_of(field: str) -> str:
    """'one of a, b, c' for a field in `choices()`."""
    return "one of " + ", ".join(choices()[field])


def add_import_flag(parser: argparse.ArgumentParser) -> None:
    """--import, for the help and argparse; `import_user_code` has imported them already."""
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE.py",
        help="your own code that registers cells, series, metrics or baselines, imported before the other "
        "flags are checked (repeatable; recorded, and imported again by --resume and rj.load_run)",
    )


def import_user_code(argv: list[str]) -> list[dict]:
    """Import every --import in `argv` before the script's parser is built or any flag is
    checked, so that --models and --series see what they register; their records (for
    config.json), or exit 2 with the import's own error in one line."""
    from rnnjax.study import user_code

    early = argparse.ArgumentParser(add_help=False)
    early.error = lambda message: fail(f"error: {message}")  # e.g. --import without a value
    early.add_argument("--import", dest="imports", action="append", default=[])
    given = early.parse_known_args(argv)[0].imports
    try:
        return user_code.load_all(given)
    except user_code.UserCodeError as err:
        fail(f"error: {err}")


def add_study_flags(parser: Parser, what: str) -> None:
    """The flags every study script has (`what` it writes: "run", "sweep"): your own code,
    the models, a new or resumed run folder, epochs per chunk, the compilation cache."""
    add_import_flag(parser)
    parser.add_argument(
        "--models",
        default=None,
        help=lambda: (
            "comma-separated registered cells, each optionally with its own hidden size as cell:hidden "
            f"(default gru,lstm; e.g. gru:40,lstm:34); cells: {', '.join(choices()['cell'])}"
        ),
    )
    parser.add_argument("--out", default=None, help="a new or empty run folder (default: runs/<time stamp>)")
    parser.add_argument("--resume", default=None, help=f"continue the killed or interrupted {what} in this folder")
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="epochs per compiled chunk; progress is shown and a checkpoint saved after each "
        "(default: epochs/20, at most 50; any value gives the same numbers)",
    )
    parser.add_argument("--no-compile-cache", action="store_true", help="do not use JAX's persistent compilation cache")


def refuse_below_one(args: argparse.Namespace, *flags: str) -> None:
    """Exit 2 naming the first of these integer flags given a value below 1."""
    for flag in flags:
        value = getattr(args, flag)
        if value is not None and value < 1:
            fail(f"error: --{flag.replace('_', '-')} {value} is not allowed: must be an integer >= 1")


def models_from_args(args: argparse.Namespace) -> dict[str, dict]:
    """--models as {model name: the Config fields it sets} (default gru,lstm): each entry a
    registered cell, or cell:hidden with its own hidden size (gru:40,lstm:34); the registry
    checks the cells. A model is named by its cell (the size is in its config); a cell
    given at several sizes names each cell-hidden (gru:20,gru:40: gru-20, gru-40)."""
    from rnnjax.study.grid import model_name

    given = "gru,lstm" if args.models is None else args.models
    entries = []
    for entry in given.split(","):
        cell, colon, size = entry.partition(":")
        if not cell or (colon and not (size.isascii() and size.isdigit() and int(size) >= 1)):
            fail(
                f"error: --models {given!r} is not allowed: registered cells, comma-separated, each "
                "optionally with its own hidden size as cell:hidden (an integer >= 1), e.g. gru:40,lstm:34"
            )
        entries.append((cell, int(size) if colon else None))
    cells = [cell for cell, _ in entries]
    models = {}
    for cell, hidden in entries:
        sized = cells.count(cell) > 1
        if sized and hidden is None:
            fail(f"error: --models {given!r} names {cell} twice: give each its own size, e.g. {cell}:20,{cell}:40")
        name = model_name(cell, hidden, sized)
        if name in models:
            fail(f"error: --models {given!r} names a model twice")
        models[name] = {"cell": cell} | ({} if hidden is None else {"hidden": hidden})
    hidden_flag = getattr(args, "hidden", None)
    if hidden_flag is not None and all("hidden" in fields for fields in models.values()):
        shown = ",".join(map(str, hidden_flag)) if isinstance(hidden_flag, list) else hidden_flag
        fail(f"error: --hidden {shown} is not used: every model in --models {given!r} has its own size")
    return models


def refuse_hidden_sweep(models: dict[str, dict], hidden_values) -> None:
    """Exit 2 if a sweep over --hidden meets models with their own sizes (one line)."""
    sized = [name for name, fields in models.items() if "hidden" in fields]
    if sized and hidden_values is not None and len(hidden_values) > 1:
        fail(
            f"error: --hidden {','.join(map(str, hidden_values))} is not allowed with models of their own size "
            f"({', '.join(sized)}): sweep hidden sizes, or give each model its size in --models, not both"
        )


def add_config_flags(parser: Parser, skip: tuple[str, ...] = ()) -> None:
    """One `--field-name` flag per Config field (default: the Config default); a field with
    choices lists them."""
    defaults = Config()
    for field in dataclasses.fields(Config):
        if field.name in skip or field.name in DERIVED:
            continue
        default = getattr(defaults, field.name)
        # a default of None (n_points, horizon: derived when not given) takes its annotation's type
        kind = (
            type(default)
            if default is not None
            else next(t for t in typing.get_args(field.type) if t is not type(None))
        )
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_PARSERS[kind],
            default=None,
            metavar=kind.__name__.upper(),
            help=_config_help(field.name, default),
        )


def _config_help(field: str, default):
    if field in choices():
        return lambda: f"{one_of(field)}; default {default!r}"
    return f"default {default!r}"


def config_from_args(args: argparse.Namespace, **fixed) -> Config:
    """The Config the flags ask for, or exit 2 with the validation message."""
    names = {f.name for f in dataclasses.fields(Config)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if given.get("data") == "":
        fail("error: --data '' is not allowed: must name a .csv or .npy file")
    try:
        cfg = Config(**{**given, **fixed})
    except ConfigError as err:
        fail(f"error: {err}")
    _refuse_unused(cfg, set(given) | set(fixed))
    if cfg.data:  # recorded whole, so that a resume from another folder finds this very file
        from rnnjax.core.series import source

        recorded = source(cfg)
        chosen = {}
        if cfg.data.lower().endswith(".csv") and not cfg.column and not cfg.columns:
            chosen = {"column": recorded.names[0]}  # the column chosen for the user, recorded and shown
        cfg = cfg.replace(data=os.path.abspath(cfg.data), data_sha256=recorded.sha256, **chosen)
    return cfg


def _refuse_unused(cfg: Config, given: set[str]) -> None:
    """A flag the chosen series does not read is a mistake, not a no-op (a tau sweep of
    Lorenz would train identical grid points)."""
    from rnnjax.core import series

    recorded = series.source(cfg) is not None
    unused = {
        "series": bool(cfg.data),
        "n_points": recorded,
        "tau": recorded or "tau" not in series.spec(cfg.series).reads,
        "x_start": recorded,
        "x_stop": not series.uses_x_stop(cfg),
    }
    for name, is_unused in unused.items():
        if name in given and is_unused:
            flag = "--" + name.replace("_", "-")
            what = f"--data {cfg.data!r}" if cfg.data else f"--series {cfg.series}"
            fail(f"error: {flag} is not used with {what}: {UNUSED_WHY[name]}")
    if "noise_seed" in given and "noise" not in given and cfg.noise == 0:
        fail("error: --noise-seed is not used without --noise: it seeds the observation noise, and there is none")


UNUSED_WHY = {
    "series": "the file is the series",
    "n_points": "the series is the whole file",
    "tau": "only the damped series have a decay",
    "x_start": "recorded data's time is its sample index",
    "x_stop": "the grid is x_start + spacing * i (--spacing; x_stop sets it only for the damped series at spacing 0)",
}


def script_path(script: str) -> str:
    """The script as the working folder reaches it (`script`: its path from the repository
    root): relative when it lies below, else absolute."""
    path = Path(__file__).resolve().parents[2] / script
    if not path.is_file():  # rnnjax installed apart from its scripts
        return script
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


def command(script: str, argv: list[str]) -> str:
    """The command line that reruns the script as given, from the working folder (config.json
    records it as `cwd`)."""
    return shlex.join(["python", script_path(script), *argv])


def refuse_too_big(study, seed_chunk=None, processes: int = 1, seed_chunk_flag: bool = False) -> None:
    """Exit 2 with one line if the study's largest program would not fit in memory. With
    several processes JAX's backend must not start before jax.distributed does, so only the
    host's memory is asked then."""
    from rnnjax.scaling import memory
    from rnnjax.study import runner

    try:
        runner.check_memory(study, seed_chunk, devices=[] if processes > 1 else None, processes=processes)
    except memory.TooBig as err:  # the sweep can also train fewer runs at once; the experiment cannot
        fail(f"error: {err}" + (", or train fewer runs at once with --seed-chunk" if seed_chunk_flag else ""))
    except (OverflowError, ValueError) as err:  # sizes past what the shapes' integers hold
        fail(f"error: the study is too big to estimate its memory ({err}): reduce --seeds, --hidden or --n-points")


def compile_cache(off: bool) -> None:
    """JAX's persistent compilation cache unless `off`; a cache folder that cannot be made is
    one line (exit 2), before any run folder exists."""
    from rnnjax.scaling import runtime

    if off:
        return
    try:
        runtime.enable_compilation_cache()
    except OSError as err:
        fail(f"error: {runtime.CACHE_ENV} / the compilation cache {err.filename!r} cannot be used: {err.strerror}")


def new_folder(out_arg: str | None, study=None) -> Path:
    """A new run folder (`--out`, or a new one under runs/), made once there is room on its
    file system for what `study`'s run will write (if given)."""
    try:
        if study is not None:
            # without --out, a new folder under runs/: the runs already there are no room it reuses
            disk.check_room(study, folders.RUNS_ROOT / ".new" if out_arg is None else Path(out_arg))
    except disk.NoRoom as err:
        fail(f"error: --out {err}: free some space there, or give another --out")
    try:
        return folders.make_run_dir(out_arg)
    except folders.RunDirError as err:
        fail(f"error: {err}")


def begin_folder(out: Path, study, script: str, argv: list[str], imports, kind: str, **extra) -> dict:
    """`run_folder.begin` from a script: its config.json written, or one line, exit 2."""
    from rnnjax.study import run_folder

    try:
        return run_folder.begin(out, study, command(script, argv), imports, kind, **extra)
    except folders.RunDirError as err:
        fail(f"error: --out {err}")


def resume_folder(args: argparse.Namespace, kind: str, grid_flags=(), claim: bool = True) -> tuple[Path, dict]:
    """The folder and config.json record of a run to resume: a run of this kind, not
    finished, whose config every flag given beside --resume agrees with; its write lock
    taken (`claim`: the writing process)."""
    if args.out is not None:
        fail("error: --resume and --out cannot be used together: a run resumes in its own folder")
    from rnnjax.study import run_folder, user_code

    out = Path(args.resume)
    if not args.resume or not out.is_dir():
        fail(f"error: --resume {args.resume!r} is not a folder")
    user_code.accept_changes(args.imports)  # given again: their fixed source is taken (refused below unless the run's)
    try:
        rec = outputs.read_record(out)
    except folders.RunDirError as err:
        fail(f"error: --resume {err}")
    if rec["kind"] != kind:
        fail(
            f"error: --resume {args.resume!r} was written by a {rec['kind']}, not by this script's {kind}: "
            "resume it with the script that wrote it"
        )
    if rec.get("finished"):
        fail(f"error: --resume {args.resume!r} is a finished run; nothing to resume")
    recorded = [i["path"] if i["given"].endswith(".py") else i["given"] for i in rec.get("imports", [])]
    given = [os.path.abspath(g) if g.endswith(".py") else g for g in args.imports]
    if given and given != recorded:
        fail(
            f"error: --import {' '.join(args.imports)} differs from the run's imports "
            f"({', '.join(recorded) or 'none'}): a resume imports the run's own"
        )
    study = outputs.study_of(rec)
    if args.models is not None:
        wanted = models_from_args(args)
        same = list(wanted) == list(study.configs) and all(
            getattr(study.configs[name], f) == v for name, fields in wanted.items() for f, v in fields.items()
        )
        if not same:
            run = ",".join(f"{name} (hidden {cfg.hidden})" for name, cfg in study.configs.items())
            fail(f"error: --models {args.models!r} differs from the run's models {run}")
    saved = next(iter(study.configs.values()))
    differ = []
    for f in dataclasses.fields(Config):
        value = getattr(args, f.name, None)
        # models may differ in their hidden size: a flag agrees with the run if some model has its value
        in_run = [getattr(cfg, f.name) for cfg in study.configs.values()]
        if f.name in grid_flags and value is not None:
            values = sorted({p[f.name] for p in study.grid.points})
            if sorted(value) != values:
                differ.append(f"{f.name} ({','.join(map(str, value))} here, {','.join(map(str, values))} in the run)")
        elif f.name == "data" and value is not None and os.path.abspath(value) == saved.data:
            continue  # the same file, named from another folder
        elif value is not None and value not in in_run:
            differ.append(f"{f.name} ({value!r} here, {getattr(saved, f.name)!r} in the run)")
    if differ:
        fail(f"error: --resume with a different config: {'; '.join(differ)}")
    if claim:  # only now: a finished or foreign folder is not touched at all
        try:
            folders.claim(out)
            disk.check_room(study, out)
            changed = run_folder.record_import_changes(out, rec)
        except disk.NoRoom as err:
            fail(f"error: --resume {err}: free some space there, then resume again")
        except (folders.RunDirError, OSError) as err:
            fail(f"error: --resume {err}")
        if changed:
            print(
                f"note: --import {', '.join(changed)} changed since the run: resuming with the new source "
                "(recorded in config.json)",
                file=sys.stderr,
            )
    return out, rec


class Bars:
    """The runner's Monitor: a progress bar per model on a terminal (epochs for one block of
    runs, run-epochs for several), one line per chunk elsewhere (a log, a pipe: a repainted
    bar would fill it with redraws), and Ctrl-C raised after each chunk's checkpoint."""

    def __init__(self, ctrl_c: "CtrlC", show: bool = True, summaries: bool = False, lines: bool | None = None):
        self.ctrl_c, self.show, self.summaries = ctrl_c, show, summaries
        self.lines = not sys.stderr.isatty() if lines is None else lines
        self.bar, self.weight, self.done = None, {}, {}
        self.name, self.cfg, self.units, self.t0 = None, None, [], 0.0

    def start_model(self, name, cfg, units, done):
        if self.summaries:
            from rnnjax.core.model import summary

            print(summary(cfg, name))
        self.name, self.cfg, self.units, self.t0 = name, cfg, units, time.perf_counter()
        if self.lines:
            return
        self.weight = {u: 1 if len(units) == 1 else u.count for u in units}  # epochs, or run-epochs
        self.done = {u: done[u] * self.weight[u] for u in units}
        if len(units) == 1:
            total, unit, desc = cfg.epochs, "epoch", f"{name} x {units[0].count} runs"
        else:
            n = sum(u.count for u in units)
            total, unit, desc = n * cfg.epochs, "run-epoch", f"{name}: {n} runs in {len(units)} programs"
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not self.show)
        self.bar.update(sum(self.done.values()))

    def chunk(self, unit, progress):
        self.ctrl_c.check()
        loss, val = (_median_last(h[: unit.count]) for h in (progress.history.loss, progress.history.val_loss))
        if self.lines:
            if self.show:
                print(self.line(unit, progress.epoch, loss, val), file=sys.stderr, flush=True)
            return
        self.done[unit] = progress.epoch * self.weight[unit]
        self.bar.update(sum(self.done.values()) - self.bar.n)
        self.bar.set_postfix(median_loss=fmt(loss))

    def line(self, unit, epoch: int, loss, val) -> str:
        """'gru  epoch 150/1000  median loss 0.0123  val 0.0145  12.3 s' (wall time since the
        model started, compiling included); with several programs, which runs."""
        runs = f"  runs {unit.start}-{unit.stop - 1}" if len(self.units) > 1 else ""
        elapsed = time.perf_counter() - self.t0
        return (
            f"{self.name}{runs}  epoch {epoch}/{self.cfg.epochs}  median loss {fmt(loss)}  val {fmt(val)}  "
            f"{elapsed:.1f} s"
        )

    def end_model(self, name, cfg, timing):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.summaries:
            rate = timing.seed_epochs_per_s(cfg)
            print(f"{name}: compile {timing.compile_s:.1f} s, train {timing.train_s:.1f} s ({rate:.0f} seed-epochs/s)")


def _median_last(history_RxE) -> float | None:
    """The median over runs of the latest epoch's value, its non-finite values (a diverged or
    stopped run) left out; None when none is finite."""
    last = history_RxE[:, -1]
    finite = last[np.isfinite(last)]
    return float(np.median(finite)) if len(finite) else None


def resume_hint(script: str, out: Path, resume_flags=()) -> str:
    return shlex.join(["python", script_path(script), "--resume", str(out), *resume_flags])


@contextlib.contextmanager
def writing_outputs(script: str, out: Path, resume_flags=(), imports=()):
    """Ctrl-C while the outputs are written: one line, exit 130; a full disk or a metric
    that returns the wrong shape: one line, exit 2. The training is in the final
    checkpoints, so resuming writes the outputs again without training (a metric fixed in
    one of the run's `imports`: giving it again with --import takes its new source)."""
    from rnnjax.study.metrics import MetricError

    message = f"\ninterrupted while writing the outputs; resume with: {resume_hint(script, out, resume_flags)}"
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupted_now(message))
    try:  # Ctrl-C ends it at once: raised, it could land in a finaliser and be swallowed
        yield
    except (MetricError, OSError) as err:
        why, flags = str(err), list(resume_flags)
        if isinstance(err, OSError) and err.strerror:  # a full disk, a file past a size limit, ...
            why = err.strerror + (f" ({err.filename})" if err.filename else "")
        elif isinstance(err, MetricError):  # fixed in the run's own code: given again, its new source is taken
            flags += [f for i in imports for f in ("--import", i["path"] or i["given"])]
        fail(
            f"error: the outputs could not be written: {why}; the training is checkpointed: once that is fixed, "
            f"finish with: {resume_hint(script, out, flags)}"
        )
    except KeyboardInterrupt:
        print(message, file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGINT, previous)


def run_with_progress(out: Path, rec: dict, chunk, script: str, show=True, summaries=False, resume_flags=()):
    """`run_folder.train` (the runner over `out`'s checkpoints) with progress bars; Ctrl-C
    checkpoints the chunk, prints how to resume (with `resume_flags`) and exits 130; a
    damaged checkpoint exits 2 with one line."""
    from rnnjax.study import checkpoint, run_folder

    _note_interpreted_kernels(outputs.study_of(rec))
    message = (
        f"\ninterrupted; every finished chunk is checkpointed in {out / 'checkpoints'}.\n"
        f"resume with: {resume_hint(script, out, resume_flags)}"
    )
    try:
        with CtrlC(message) as ctrl_c:
            trained = run_folder.train(out, rec, chunk, Bars(ctrl_c, show, summaries))
            ctrl_c.check()
    except KeyboardInterrupt:
        print(message, file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except (checkpoint.CheckpointError, ConfigError) as err:  # ConfigError: the data file changed meanwhile
        fail(f"error: {err}")
    except OSError as err:  # a checkpoint path that is a folder, a full disk, ...
        where = f"{err.filename!r} in the run folder" if err.filename else "the run folder"
        fail(
            f"error: cannot use {where}: {err.strerror or err}; the finished chunks are checkpointed: once that is "
            f"fixed, resume with: {resume_hint(script, out, resume_flags)}"
        )
    except Exception as err:  # out of memory after all: XLA's error types, or the host's
        if not isinstance(err, MemoryError) and "RESOURCE_EXHAUSTED" not in str(err):
            raise
        fail(
            f"error: ran out of memory ({type(err).__name__}); the finished chunks are checkpointed: resume on a "
            f"machine with more memory with: {resume_hint(script, out, resume_flags)}"
        )
    return trained


def write_outputs(out: Path, rec: dict, trained, script: str, resume_flags=()) -> dict:
    """`run_folder.write` (every output, config.json last); Ctrl-C meanwhile is one line and
    exit 130 (`writing_outputs`). Returns the summary."""
    from rnnjax.study import run_folder

    with writing_outputs(script, out, resume_flags, rec.get("imports", [])):
        return run_folder.write(out, rec, trained)


def _note_interpreted_kernels(study) -> None:
    """--kernel pallas without a GPU works, through Pallas's interpreter: say it is slow."""
    if all(cfg.kernel != "pallas" for cfg in study.configs.values()):
        return
    import jax  # the backend starts here anyway, after any jax.distributed set-up

    if jax.default_backend() != "gpu":
        print(
            f"note: --kernel pallas on {jax.default_backend()}: Pallas's interpreter runs the kernels, "
            "for checking them (several times slower than --kernel xla; same numbers)",
            file=sys.stderr,
        )
