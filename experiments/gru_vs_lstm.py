"""GRU vs LSTM on the damped series over many seeds: statistics, figures and a report.

python experiments/gru_vs_lstm.py --seeds 16 --epochs 1000 --out runs/mine
python experiments/gru_vs_lstm.py --models gru:40,lstm:34 --layers 2    # a hidden size each, two layers
python experiments/gru_vs_lstm.py --resume runs/mine    # after a kill or Ctrl-C
"""

import signal
import sys

if __name__ == "__main__":  # Ctrl-C while the libraries load: stop quietly (status 130)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from rnnjax.scaling.runtime import libraries_or_exit

    libraries_or_exit()  # a value JAX or matplotlib refuses in the environment: one line, exit 2

# isort: split
from rnnjax.scaling import runtime
from rnnjax.study import baselines, cli
from rnnjax.study.grid import Study, make_grid
from rnnjax.study.metrics import METRICS

SCRIPT = "experiments/gru_vs_lstm.py"


def parse(argv):
    parser = cli.Parser(description=__doc__.splitlines()[0])
    cli.add_study_flags(parser, "run")
    parser.add_argument(
        "--baselines",
        default=None,
        help=lambda: (
            "comma-separated baselines scored beside a held-out forecast, of "
            f"{', '.join(baselines.BASELINES)} (default: every one that applies; seasonal needs a season)"
        ),
    )
    parser.add_argument(
        "--primary",
        default=None,
        help=lambda: (
            f"the metric of the ranking, comparisons and baseline table, one of {', '.join(scorable())} "
            "(default: mase under holdout, forecast_rmse under the notebook's protocol)"
        ),
    )
    cli.add_config_flags(parser, skip=("cell", "fold"))  # a backtest trains every origin: --origins
    args = parser.parse_args(argv)
    cli.refuse_below_one(args, "chunk")
    return args


def new_run(args, argv, imports):
    configs = {name: cli.config_from_args(args, **fields) for name, fields in cli.models_from_args(args).items()}
    first = next(iter(configs.values()))
    # a backtest's origins are a grid axis: origins x seeds of a model train as one program
    study = Study(configs, make_grid(first))  # a backtest: every origin
    options = report_options(args, next(iter(configs.values())))
    cli.refuse_too_big(study)
    out = cli.new_folder(args.out, study)
    rec = cli.begin_folder(
        out, study, SCRIPT, argv, imports, "experiment", chunk=args.chunk, processes=1, report=options
    )
    return out, rec


def scorable() -> list[str]:
    """The metrics --primary may name: those of a forecast, from the registry as it is now."""
    return [m for m, spec in METRICS.items() if spec.of_forecast]


def report_options(args, cfg) -> dict:
    """--baselines and --primary, checked against the registries and the protocol (exit 2)."""
    from rnnjax.core.series import season

    names = None if args.baselines is None else args.baselines.split(",")
    if names is not None:
        if cfg.forecast_protocol == "notebook":
            cli.fail(
                "error: --baselines is used with --protocol holdout or backtest only: the notebook's forecast is in-sample"
            )
        why = baselines.refusal(names, season(cfg), cfg.n_train, cfg.window)
        if why:
            cli.fail(f"error: {why}")
    if args.primary is not None and args.primary not in scorable():
        cli.fail(f"error: --primary {args.primary!r} is not allowed: one of {', '.join(scorable())}")
    return {"baselines": names, "primary": args.primary}


def main(argv=None):
    runtime.use_all_cores()  # one XLA host device per core, before anything computes
    argv = sys.argv[1:] if argv is None else argv
    imports = cli.import_user_code(argv)  # first: --models and --series may name what they register
    args = parse(argv)
    cli.start_backend()  # or one line saying why it cannot start here
    cli.compile_cache(args.no_compile_cache)
    out, rec = cli.resume_folder(args, "experiment") if args.resume is not None else new_run(args, argv, imports)
    saved = rec.get("report") or {"baselines": None, "primary": None}
    given = {"baselines": None if args.baselines is None else args.baselines.split(","), "primary": args.primary}
    differ = [f for f, v in given.items() if args.resume is not None and v is not None and v != saved[f]]
    if differ:
        cli.fail(f"error: --resume with a different report: {', '.join(differ)} ({saved} in the run)")

    trained = cli.run_with_progress(out, rec, args.chunk, SCRIPT, summaries=True)
    summary = cli.write_outputs(out, rec, trained, SCRIPT)
    for name, m in summary["models"].items():
        print(
            f"{name}: {m['params']:,} params, {m['seeds']} seeds ({m['diverged']} diverged), median "
            f"final val_loss {cli.fmt(m['final_val_loss']['median'])}, "
            f"forecast RMSE {cli.fmt(m['forecast_rmse']['median'])}, MASE {cli.fmt(m['mase']['median'])}"
        )
    for name, b in summary["baselines"].items():
        print(f"baseline {name}: forecast RMSE {cli.fmt(b['forecast_rmse'])}, MASE {cli.fmt(b['mase'])}")
    if summary["protocol"] == "notebook":
        print(
            f"protocol notebook: the forecast lies inside the span the models trained on ({summary['spans']['forecast']})"
        )
    for claim in summary["claims"]:
        print(f"- {claim['claim']} {claim['verdict']}.")
    print(f"run folder: {out}  (report.md, summary.json, metrics.csv, params.npz, figures, checkpoints/)")


if __name__ == "__main__":
    cli.main_guard(main)
