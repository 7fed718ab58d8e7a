"""A hyperparameter sweep: learning rate, momentum, tau, noise, hidden size and window grids x seeds,
per model, each model's grid one vmapped program per shape over every local device,
optionally over several processes; checkpointed, and resumable with --resume.

python experiments/sweep.py --lr 0.003,0.01,0.03,0.1 --seeds 32 --models gru,lstm
python experiments/sweep.py --lr 0.01,0.1 --momentum 0,0.9 --seeds 8 --epochs 200 --out runs/mom
python experiments/sweep.py --lr 0.01,0.1 --models gru:40,lstm:34    # each model its own hidden size
python experiments/sweep.py --resume runs/mom    # after a kill or Ctrl-C
# two hosts (or two processes on one): the same command on each, with its own --process-id
python experiments/sweep.py --lr 0.01,0.1 --coordinator host0:12355 --num-processes 2 --process-id 0
"""

import dataclasses
import math
import signal
import sys
from pathlib import Path

if __name__ == "__main__":  # Ctrl-C while the libraries load: stop quietly (status 130)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from rnnjax.scaling.runtime import libraries_or_exit

    libraries_or_exit()  # a value JAX or matplotlib refuses in the environment: one line, exit 2

# isort: split
import jax  # no backend starts until first use, after distributed.initialize

from rnnjax.core.config import Config, ConfigError, knob_help
from rnnjax.scaling import distributed, runtime
from rnnjax.study import cli, interrupts, outputs, report, runner
from rnnjax.study.grid import GRID_FIELDS, Study, at_point, make_grid

SCRIPT = "experiments/sweep.py"
GRID_FLAGS = {field: knob_help(field) for field in GRID_FIELDS}  # declared on the Config fields
FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(Config)}


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


def _str_list(text: str) -> list[str]:
    values = text.split(",")
    if not all(values) or len(set(values)) != len(values):
        raise ValueError(text)
    return values


_float_list.__name__ = "comma-separated list of distinct finite numbers"
_str_list.__name__ = "comma-separated list of distinct names"
_int_list.__name__ = "comma-separated list of distinct integers"


def _grid_help(field: str, what: str):
    if field in cli.choices():  # read when the help is shown: names registered by then too
        return lambda: f"{what}, each {cli.one_of(field)} (default: Config's)"
    return f"{what} (default: Config's)"


def parse(argv):
    parser = cli.Parser(description=__doc__.splitlines()[0])
    cli.add_study_flags(parser, "sweep")
    for field, what in GRID_FLAGS.items():
        kind = {str: _str_list, int: _int_list}.get(FIELD_TYPES[field], _float_list)
        flag = "--" + field.replace("_", "-")  # --beta-1, as every other flag is spelt
        parser.add_argument(flag, dest=field, type=kind, default=None, help=_grid_help(field, what))
    parser.add_argument(
        "--seed-chunk", type=int, default=None, help="runs trained at once (default: all; on a GPU, what fits)"
    )
    parser.add_argument("--coordinator", default=None, help="HOST:PORT of process 0, for several processes")
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    parser.add_argument(
        "--init-timeout", type=int, default=120, help="seconds to wait for every process to connect (default 120)"
    )
    cli.add_config_flags(parser, skip=("cell", *GRID_FLAGS))
    args = parser.parse_args(argv)
    cli.refuse_below_one(args, "seed_chunk", "chunk", "init_timeout")
    if args.init_timeout > 86_400:
        cli.fail(f"error: --init-timeout {args.init_timeout} is not allowed: at most 86400 (a day)")
    check_processes(args)
    return args


def check_processes(args):
    given = [v is not None for v in (args.coordinator, args.num_processes, args.process_id)]
    if any(given) and not all(given):
        cli.fail("error: --coordinator, --num-processes and --process-id go together: give all three or none")
    if not any(given):
        return
    host, _, port = args.coordinator.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65534:
        cli.fail(f"error: --coordinator {args.coordinator!r} is not allowed: must be HOST:PORT, PORT from 1 to 65534")
    if args.num_processes < 1:
        cli.fail(f"error: --num-processes {args.num_processes} is not allowed: must be an integer >= 1")
    if not 0 <= args.process_id < args.num_processes:
        cli.fail(f"error: --process-id {args.process_id} is not allowed: must be from 0 to {args.num_processes - 1}")
    problem = distributed.ports_problem(args.coordinator) if args.process_id == 0 else None
    if problem is not None:  # process 0 serves on them: found before any folder or backend
        cli.fail(f"error: {problem}; choose another port")


def new_study(args) -> Study:
    """Configs and grid, validated before anything compiles."""
    first = {f: getattr(args, f)[0] for f in GRID_FLAGS if getattr(args, f) is not None}  # the grid's own values
    models = cli.models_from_args(args)
    cli.refuse_hidden_sweep(models, args.hidden)
    # a model's own hidden size (--models gru:40) over --hidden's one value
    configs = {name: cli.config_from_args(args, **(first | fields)) for name, fields in models.items()}
    values = {f: getattr(args, f) for f in GRID_FLAGS}
    base = next(iter(configs.values()))
    try:
        grid = make_grid(base, values)
        for cfg in configs.values():  # every model at every point, before anything trains
            for point in grid.points:
                at_point(grid, cfg, point)
    except ConfigError as err:
        cli.fail(f"error: {err}")
    return Study(configs, grid)


def main(argv=None):
    runtime.use_all_cores()  # one XLA host device per core; starts no backend: jax.distributed still can
    argv = sys.argv[1:] if argv is None else argv
    imports = cli.import_user_code(argv)  # first: --models and --series may name what they register
    args = parse(argv)
    processes = args.num_processes or distributed.cluster_size()
    cli.compile_cache(args.no_compile_cache)
    if processes > 1 and args.out is None and args.resume is None:
        cli.fail("error: a sweep over several processes needs --out: the same folder on every process")
    writer = distributed.process_id_before_start(args.process_id) == 0
    if args.resume is not None:
        out, rec = cli.resume_folder(args, "sweep", grid_flags=tuple(GRID_FLAGS), claim=writer)
        if args.seed_chunk is not None and args.seed_chunk != rec["seed_chunk"]:
            cli.fail(
                f"error: --resume with a different config: seed_chunk ({args.seed_chunk} here, "
                f"{rec['seed_chunk']} in the run)"
            )
        if rec["processes"] != processes:
            cli.fail(
                f"error: --resume {args.resume!r} ran as {rec['processes']} process(es), not {processes}: resume it "
                "with the same --num-processes (each process's checkpoints hold its own block of runs)"
            )
    else:
        study = new_study(args)
        if processes == 1:  # its memory check starts the backend; several wait for jax.distributed
            cli.start_backend()
        cli.refuse_too_big(study, args.seed_chunk, processes, seed_chunk_flag=True)
        out = cli.new_folder(args.out, study) if writer else Path(args.out or "")
    processes_flags = [] if args.coordinator is None else ["--coordinator", args.coordinator]
    if args.coordinator is not None:
        processes_flags += ["--num-processes", str(args.num_processes), "--process-id", str(args.process_id)]
    try:  # before JAX's backend starts
        lost = interrupts.on_peer_lost(cli.resume_hint(SCRIPT, out, processes_flags))
        agree = runner.study_digest(
            study if args.resume is None else outputs.study_of(rec)
        )  # the same on every process
        distributed.initialize(args.coordinator, args.num_processes, args.process_id, args.init_timeout, lost, agree)
    except distributed.PeerError as err:
        cli.fail(f"error: {err}")
    cli.start_backend()  # after jax.distributed: or one line saying why it cannot start here
    if args.resume is None:
        devices = [str(d) for d in jax.local_devices()]
        extra = {"chunk": args.chunk, "seed_chunk": args.seed_chunk, "processes": processes, "local_devices": devices}
        if writer:
            rec = cli.begin_folder(out, study, SCRIPT, argv, imports, "sweep", **extra)
        else:  # the same record, unwritten: only process 0 writes the folder
            rec = outputs.record("sweep", study, cli.command(SCRIPT, argv), imports, **extra)
    if writer:  # before training: a reader of the log learns it before the numbers
        planned = outputs.study_of(rec)
        for warning in report.sweep_warnings(
            next(iter(planned.configs.values())).forecast_protocol, planned.grid.swept
        ):
            print(f"warning: {warning}", file=sys.stderr)
    trained = cli.run_with_progress(out, rec, args.chunk, SCRIPT, show=writer, resume_flags=processes_flags)
    distributed.finish()  # every gather done: the processes no longer need each other
    if not writer:
        return
    summary = cli.write_outputs(out, rec, trained, SCRIPT, processes_flags)
    for name, model in summary["models"].items():
        for p in model["points"]:
            values = report.point_label(p, summary["swept"]) or "the one point"
            rmse = cli.fmt(p["forecast_rmse"]["median"])
            print(f"{name} {values}: forecast RMSE median {rmse}, {p['diverged']}/{p['seeds']} diverged")
    print(f"wrote {out}")


if __name__ == "__main__":
    cli.main_guard(main)
