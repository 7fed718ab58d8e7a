"""GRU vs LSTM on the damped series over many seeds: statistics, figures and a report.

python experiments/gru_vs_lstm.py --seeds 16 --epochs 1000 --out runs/mine
python experiments/gru_vs_lstm.py --resume runs/mine    # after a kill or Ctrl-C
"""

import signal
import sys
import time

if __name__ == "__main__":  # Ctrl-C while the libraries load: stop quietly (status 130)
    signal.signal(signal.SIGINT, signal.SIG_DFL)

# isort: split
from rnnjax.scaling import runtime
from rnnjax.study import cli, folders, notebook, outputs
from rnnjax.study.grid import Study, make_grid

SCRIPT = "experiments/gru_vs_lstm.py"


def parse(argv):
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated registered cells (default gru,lstm)")
    parser.add_argument("--out", default=None, help="a new or empty run folder (default: runs/<time stamp>)")
    parser.add_argument("--resume", default=None, help="continue the killed or interrupted run in this folder")
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="epochs per compiled chunk; progress is shown and a checkpoint saved after each "
        "(default: epochs/20, at most 50)",
    )
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help=f"do not use JAX's persistent compilation cache ({runtime.CACHE_ENV})",
    )
    cli.add_config_flags(parser, skip=("cell",))
    args = parser.parse_args(argv)
    if args.chunk is not None and args.chunk < 1:
        cli.fail(f"error: --chunk {args.chunk} is not allowed: must be an integer >= 1")
    return args


def new_run(args, argv):
    names = ("gru,lstm" if args.models is None else args.models).split(",")
    if len(set(names)) != len(names):
        cli.fail(f"error: --models {args.models!r} names a model twice")
    if len(names) > 1 and not all(names):
        cli.fail(f"error: --models {args.models!r} is not allowed: distinct registered cells, comma-separated")
    configs = {name: cli.config_from_args(args, cell=name) for name in names}
    study = Study(configs, make_grid(next(iter(configs.values()))))
    cli.check_memory(study)
    out = cli.new_folder(args.out)
    rec = outputs.record("experiment", study, cli.command(SCRIPT, argv), chunk=args.chunk, processes=1)
    folders.write_json(out / "config.json", rec)
    return out, rec


def main(argv=None):
    runtime.use_all_cores()  # one XLA host device per core, before anything computes
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    cli.compile_cache(args.no_compile_cache)
    out, rec = cli.resume_folder(args, "experiment") if args.resume is not None else new_run(args, argv)

    start = time.perf_counter()
    study = outputs.study_of(rec)
    chunk = rec["chunk"] if args.chunk is None else args.chunk  # any chunk gives the same numbers
    results = cli.run_study(study, out, chunk, None, SCRIPT, summaries=True)
    with cli.writing_outputs(SCRIPT, out):
        summary = outputs.write_experiment(out, rec, results, time.perf_counter() - start, notebook.CLAIMS)
    for name, m in summary["models"].items():
        print(
            f"{name}: {m['params']:,} params, {m['seeds']} seeds ({m['diverged']} diverged), median "
            f"final val_loss {cli.fmt(m['final_val_loss']['median'])}, "
            f"forecast RMSE {cli.fmt(m['forecast_rmse']['median'])}"
        )
    for claim in summary["claims"]:
        print(f"- {claim['claim']} {claim['verdict']}.")
    print(f"run folder: {out}  (report.md, summary.json, metrics.csv, params.npz, figures, checkpoints/)")


if __name__ == "__main__":
    cli.main_guard(main)
