"""A hyperparameter sweep: learning rate, momentum and tau grids x seeds, per model, each
model's grid one vmapped program over every local device, optionally over several processes.

python experiments/sweep.py --lr 0.003,0.01,0.03,0.1 --seeds 32 --models gru,lstm
python experiments/sweep.py --lr 0.01,0.1 --momentum 0,0.9 --seeds 8 --epochs 200 --out runs/mom
# two hosts (or two processes on one): the same command on each, with its own --process-id
python experiments/sweep.py --lr 0.01,0.1 --coordinator host0:12355 --num-processes 2 --process-id 0
"""

import math
import shlex
import sys
import time

# isort: off
import rnnjax  # noqa: F401  before jax: one XLA host device per core on CPU
import jax  # no backend starts until first use, after distributed.initialize

# isort: on
from tqdm import tqdm

from rnnjax import cli, distributed, io, runtime, sweep, sweep_outputs
from rnnjax.config import Config, ConfigError

GRID_FLAGS = {
    "hidden": "hidden sizes (one program each)",
    "window": "window lengths (one program each)",
    "lr": "learning rates",
    "momentum": "SGD momentum values",
    "tau": "the series' decay constants",
}


def _float_list(text: str) -> list[float]:
    values = [float(v) for v in text.split(",")]
    if not all(math.isfinite(v) for v in values) or len(set(values)) != len(values):
        raise ValueError(text)
    return values


def _int_list(text: str) -> list[int]:
    values = [int(v) for v in text.split(",")]
    if len(set(values)) != len(values):
        raise ValueError(text)
    return values


_float_list.__name__ = "comma-separated list of distinct finite numbers"
_int_list.__name__ = "comma-separated list of distinct integers"


def parse(argv):
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gru,lstm", help="comma-separated registered cells")
    for field, what in GRID_FLAGS.items():
        kind = _int_list if field in sweep.SEPARATE else _float_list
        parser.add_argument(f"--{field}", type=kind, default=None, help=f"{what} (default: Config's)")
    parser.add_argument("--out", default=None, help="a new or empty run folder (default: runs/<time stamp>)")
    parser.add_argument(
        "--seed-chunk", type=int, default=None, help="runs trained at once (default: all; on a GPU, what fits)"
    )
    parser.add_argument("--coordinator", default=None, help="HOST:PORT of process 0, for several processes")
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    parser.add_argument("--no-compile-cache", action="store_true", help="do not use JAX's persistent compilation cache")
    cli.add_config_flags(parser, skip=("cell", *GRID_FLAGS))
    args = parser.parse_args(argv)
    if args.seed_chunk is not None and args.seed_chunk < 1:
        cli.fail(f"error: --seed-chunk {args.seed_chunk} is not allowed: must be an integer >= 1")
    check_processes(args)
    return args


def check_processes(args):
    given = [v is not None for v in (args.coordinator, args.num_processes, args.process_id)]
    if any(given) and not all(given):
        cli.fail("error: --coordinator, --num-processes and --process-id go together: give all three or none")
    if not any(given):
        return
    host, _, port = args.coordinator.rpartition(":")
    if not host or not port.isdigit():
        cli.fail(f"error: --coordinator {args.coordinator!r} is not allowed: must be HOST:PORT")
    if args.num_processes < 1:
        cli.fail(f"error: --num-processes {args.num_processes} is not allowed: must be an integer >= 1")
    if not 0 <= args.process_id < args.num_processes:
        cli.fail(f"error: --process-id {args.process_id} is not allowed: must be from 0 to {args.num_processes - 1}")


def setup(args):
    """Configs and grid, validated before anything compiles."""
    names = args.models.split(",")
    if len(set(names)) != len(names) or not all(names):
        cli.fail(f"error: --models {args.models!r} is not allowed: distinct registered cells, comma-separated")
    first = {f: getattr(args, f)[0] for f in GRID_FLAGS if getattr(args, f) is not None}  # the grid's own values
    configs = {name: cli.config_from_args(args, cell=name, **first) for name in names}
    try:
        grid = sweep.make_grid(next(iter(configs.values())), {f: getattr(args, f) for f in GRID_FLAGS})
    except ConfigError as err:
        cli.fail(f"error: {err}")
    return configs, grid


def train_model(name: str, cfg: Config, grid: sweep.Grid, seed_chunk, writer: bool):
    """Train this process's block of the model's runs, then gather every process's block."""
    n_runs = len(grid.points) * cfg.seeds
    start, stop = distributed.block(n_runs)
    desc = f"{name}: runs {start}-{stop} of {n_runs}"
    with tqdm(
        total=(stop - start) * cfg.epochs, desc=desc, unit="run-epoch", file=sys.stderr, disable=not writer
    ) as bar:
        mine, timing = sweep.train_grid(cfg, grid, cfg.seeds, start, stop, seed_chunk, lambda n: bar.update(n - bar.n))
    return distributed.gather(mine, n_runs), timing


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    configs, grid = setup(args)
    writer = distributed.process_id_before_start(args.process_id) == 0
    out = None
    if writer:
        try:
            out = io.make_run_dir(args.out)
        except io.RunDirError as err:
            cli.fail(f"error: {err}")
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    if not args.no_compile_cache:
        runtime.enable_compilation_cache()

    command = shlex.join(["python", "experiments/sweep.py", *argv])
    record = {
        "command": command,
        "models": io.config_record(configs),
        "grid": grid.points,
        "swept": list(grid.swept),
        "processes": jax.process_count(),
        "local_devices": [str(d) for d in jax.local_devices()],
    }
    if writer:
        io.write_json(out / "config.json", record | {"environment": io.environment()})
    start = time.perf_counter()
    model_runs, timings = {}, {}
    for name, cfg in configs.items():
        outputs, timings[name] = train_model(name, cfg, grid, args.seed_chunk, writer)
        model_runs[name] = sweep.model_runs(cfg, grid, cfg.seeds, outputs, timings[name])
    if not writer:
        return
    summary = sweep_outputs.write_sweep(out, model_runs, grid, timings, record)
    io.write_json(
        out / "config.json", record | {"environment": io.environment(), "wall_s": time.perf_counter() - start}
    )
    for name, model in summary["models"].items():
        for p in model["points"]:
            values = ", ".join(f"{f}={p[f]:g}" for f in sweep.GRID_FIELDS)
            m = p["forecast_rmse"]
            rmse = "n/a" if m["median"] is None else f"{m['median']:.3g}"
            print(f"{name} {values}: forecast RMSE median {rmse}, {p['diverged']}/{p['seeds']} diverged")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
