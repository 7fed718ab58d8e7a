"""GRU vs LSTM on the damped series over many seeds: statistics, figures and a report.

python experiments/gru_vs_lstm.py --seeds 16 --epochs 1000 --out runs/mine
python experiments/gru_vs_lstm.py --resume runs/mine    # after a kill or Ctrl-C
"""

import dataclasses
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rnnjax import checkpoint, cli, experiment, io, outputs, runtime
from rnnjax.config import Config
from rnnjax.model import summary


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
    configs = {name: cli.config_from_args(args, cell=name) for name in names}
    try:
        out = io.make_run_dir(args.out)
    except io.RunDirError as err:
        cli.fail(f"error: {err}")
    command = shlex.join(["python", "experiments/gru_vs_lstm.py", *argv])
    outputs.write_config(out, configs, command)
    return out, configs, command


def resumed_run(args):
    """The folder's own configs; flags given beside --resume must agree with them."""
    if args.out is not None:
        cli.fail("error: --resume and --out cannot be used together: a run resumes in its own folder")
    out = Path(args.resume)
    if not out.is_dir():
        cli.fail(f"error: --resume {args.resume!r} is not a folder")
    try:
        configs, command = outputs.read_configs(out)
    except io.RunDirError as err:
        cli.fail(f"error: --resume {err}")
    if (out / "report.md").exists():
        cli.fail(f"error: --resume {args.resume!r} is a finished run (report.md exists); nothing to resume")
    if args.models is not None and args.models.split(",") != list(configs):
        cli.fail(f"error: --models {args.models!r} differs from the run's models {','.join(configs)!r}")
    given = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(Config)}
    saved = next(iter(configs.values()))
    differ = [
        f"{k} ({v!r} here, {getattr(saved, k)!r} in the run)"
        for k, v in given.items()
        if v is not None and v != getattr(saved, k)
    ]
    if differ:
        cli.fail(f"error: --resume with a different config: {'; '.join(differ)}")
    return out, configs, command


def train_model(name, cfg, out, chunk, ctrl_c):
    """One model, from its checkpoint if there is one, saving a checkpoint after every chunk."""
    path = out / "checkpoints" / f"{name}.ckpt"
    resume = None
    if path.exists():
        try:
            resume = checkpoint.load(path, cfg)
        except checkpoint.CheckpointError as err:
            cli.fail(f"error: {err}")
    path.parent.mkdir(exist_ok=True)
    with tqdm(total=cfg.epochs, desc=f"{name} x {cfg.seeds} seeds", unit="epoch", file=sys.stderr) as bar:
        if resume is not None:
            bar.update(resume.epoch)

        def progress(p):
            checkpoint.save(path, cfg, p)
            ctrl_c.check()
            bar.update(p.epoch - bar.n)
            last = p.history.loss[:, -1]
            finite = last[np.isfinite(last)]
            bar.set_postfix(median_loss=f"{np.median(finite):.3g}" if len(finite) else "n/a")

        return experiment.run(cfg, chunk, progress, resume)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    out, configs, command = resumed_run(args) if args.resume else new_run(args, argv)
    if not args.no_compile_cache:
        runtime.enable_compilation_cache()

    start = time.perf_counter()
    runs = {}
    ctrl_c = cli.CtrlC()
    try:
        for name, cfg in configs.items():
            print(summary(cfg, name))
            runs[name] = train_model(name, cfg, out, args.chunk, ctrl_c)
            t = runs[name].timing
            print(
                f"{name}: compile {t.compile_s:.1f} s, train {t.train_s:.1f} s ({t.seed_epochs_per_s(cfg):.0f} seed-epochs/s)"
            )
        ctrl_c.check()
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; every finished chunk is checkpointed in {out / 'checkpoints'}.\n"
            f"resume with: python experiments/gru_vs_lstm.py --resume {shlex.quote(str(out))}",
            file=sys.stderr,
        )
        raise SystemExit(130) from None

    result = outputs.write_run(out, runs, command, time.perf_counter() - start)
    for name, m in result["models"].items():
        print(
            f"{name}: {m['params']:,} params, {m['seeds']} seeds ({m['diverged']} diverged), median "
            f"final val_loss {m['final_val_loss']['median']:.3g}, forecast RMSE {m['forecast_rmse']['median']:.3g}"
        )
    for claim in result["claims"]:
        print(f"- {claim['claim']} {claim['verdict']}.")
    print(f"run folder: {out}  (report.md, summary.json, metrics.csv, figures, checkpoints/)")


if __name__ == "__main__":
    main()
