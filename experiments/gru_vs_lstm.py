"""GRU vs LSTM on the damped series over many seeds: statistics, figures and a report.

python experiments/gru_vs_lstm.py --seeds 16 --epochs 1000 --out runs/mine
"""

import shlex
import sys
import time

import numpy as np
from tqdm import tqdm

from rnnjax import cli, experiment, io, outputs, runtime
from rnnjax.model import summary


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gru,lstm", help="comma-separated registered cells (default gru,lstm)")
    parser.add_argument("--out", default=None, help="a new or empty run folder (default: runs/<time stamp>)")
    parser.add_argument(
        "--chunk", type=int, default=experiment.DEFAULT_CHUNK, help="epochs per compiled chunk (progress updates)"
    )
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help=f"do not use JAX's persistent compilation cache ({runtime.CACHE_ENV})",
    )
    cli.add_config_flags(parser, skip=("cell",))
    args = parser.parse_args(argv)
    names = args.models.split(",")
    if len(set(names)) != len(names):
        cli.fail(f"error: --models {args.models!r} names a model twice")
    if args.chunk < 1:
        cli.fail(f"error: --chunk {args.chunk} is not allowed: must be an integer >= 1")
    configs = {name: cli.config_from_args(args, cell=name) for name in names}
    try:
        out = io.make_run_dir(args.out)
    except io.RunDirError as err:
        cli.fail(f"error: {err}")

    if not args.no_compile_cache:
        runtime.enable_compilation_cache()
    start = time.perf_counter()
    runs = {}
    for name, cfg in configs.items():
        print(summary(cfg, name))
        with tqdm(total=cfg.epochs, desc=f"{name} x {cfg.seeds} seeds", unit="epoch", file=sys.stderr) as bar:

            def progress(done, history, bar=bar):
                bar.update(done - bar.n)
                last = history.loss[:, -1]
                finite = last[np.isfinite(last)]
                bar.set_postfix(median_loss=f"{np.median(finite):.3g}" if len(finite) else "n/a")

            runs[name] = experiment.run(cfg, args.chunk, progress)
        t = runs[name].timing
        print(
            f"{name}: compile {t.compile_s:.1f} s, train {t.train_s:.1f} s ({t.seed_epochs_per_s(cfg):.0f} seed-epochs/s)"
        )

    command = shlex.join(["python", "experiments/gru_vs_lstm.py", *argv])
    result = outputs.write_run(out, runs, command, time.perf_counter() - start)
    for name, m in result["models"].items():
        print(
            f"{name}: {m['params']:,} params, {m['seeds']} seeds ({m['diverged']} diverged), median "
            f"final val_loss {m['final_val_loss']['median']:.3g}, forecast RMSE {m['forecast_rmse']['median']:.3g}"
        )
    for claim in result["claims"]:
        print(f"- {claim['claim']} {claim['verdict']}.")
    print(f"run folder: {out}  (report.md, summary.json, metrics.csv, figures)")


if __name__ == "__main__":
    main()
