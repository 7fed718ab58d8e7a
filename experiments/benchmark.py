"""Training speed: seed-epochs/s against the seed count and device count, and the ratio to
the naive loop (a jitted step called from Python, one seed at a time), measured in this run.

    python experiments/benchmark.py --seeds 1,4,16,64 --epochs 50 --out runs/bench
    python experiments/benchmark.py --kernel pallas --out runs/bench_pallas   # the fused kernels

The naive loop is always the XLA cell (a tutorial's loop), so the ratios of an xla and a
pallas run share their baseline; every row, line and title names the run's kernel.
"""

import sys

import jax
import numpy as np

from rnnjax.scaling import bench, runtime
from rnnjax.study import cli, folders


def _int_list(text: str) -> list[int]:
    values = [int(v) for v in text.split(",")]
    if not values or min(values) < 1:
        raise ValueError(text)
    return values


_int_list.__name__ = "comma-separated positive integers"


def main(argv=None):
    runtime.use_all_cores()  # one XLA host device per core, before anything computes
    cli.start_backend()  # or one line saying why it cannot start here
    n_local = len(jax.local_devices())
    on_cpu = jax.default_backend() == "cpu"
    cli.import_user_code(sys.argv[1:] if argv is None else argv)  # before --models is read
    parser = cli.Parser(description=__doc__.splitlines()[0])
    cli.add_import_flag(parser)
    parser.add_argument(
        "--models", default="gru,lstm", help=lambda: "comma-separated cells (default gru,lstm): " + cli.one_of("cell")
    )
    parser.add_argument("--seeds", type=_int_list, default=[1, 4, 16, 64] if on_cpu else [1, 64, 1024, 4096, 16384])
    parser.add_argument("--epochs", type=int, default=50 if on_cpu else 1000)
    parser.add_argument("--devices", type=_int_list, default=sorted({1, n_local}), help="device counts to compare")
    parser.add_argument("--naive-epochs", type=int, default=10, help="epochs timed for the naive loop")
    parser.add_argument("--out", default=None, help="a new or empty folder (default: runs/<time stamp>)")
    cli.add_config_flags(parser, skip=("cell", "seeds", "epochs"))
    args = parser.parse_args(argv)
    if args.naive_epochs < 1:
        cli.fail(f"error: --naive-epochs {args.naive_epochs} is not allowed: must be an integer >= 1")
    if max(args.devices) > n_local:
        cli.fail(f"error: --devices {max(args.devices)} is not allowed: this process has {n_local} devices")
    configs = {m: cli.config_from_args(args, cell=m, epochs=args.epochs, seeds=1) for m in args.models.split(",")}
    try:
        out = folders.make_run_dir(args.out)
    except folders.RunDirError as err:
        cli.fail(f"error: {err}")

    device_kind = jax.devices()[0].device_kind
    rows = []
    kernel = next(iter(configs.values())).kernel
    print(f"{device_kind}: {n_local} device(s), {args.epochs} epochs, kernel {kernel}", flush=True)
    for model, base in configs.items():
        naive = bench.naive_seed_epochs_per_s(base, args.naive_epochs)
        print(f"{model}: naive loop (xla) {naive:.0f} seed-epochs/s", flush=True)
        for n_dev in args.devices:
            for seeds in args.seeds:
                m = bench.measure(base.replace(seeds=seeds), jax.local_devices()[:n_dev])
                row = {
                    "device": device_kind,
                    "kernel": kernel,
                    "devices": n_dev,
                    "model": model,
                    "seeds": seeds,
                    "epochs": args.epochs,
                }
                row |= m._asdict() | {"naive_seed_epochs_per_s": naive, "ratio_to_naive": m.seed_epochs_per_s / naive}
                rows.append(row)
                print(
                    f"{model:5s} {kernel:6s} devices {n_dev} seeds {seeds:6d}: compile {m.compile_s:5.1f} s, "
                    f"train {m.train_s:7.2f} s, {m.seed_epochs_per_s:9.0f} seed-epochs/s "
                    f"({row['ratio_to_naive']:.1f}x naive), program {m.program_mb:.1f} MB, rollout {m.rollout_s:.2f} s",
                    flush=True,
                )
    folders.write_csv(out / "benchmark.csv", rows)
    plot(rows, out)
    print(f"wrote {out / 'benchmark.csv'} and {out / 'scaling.png'}")


def plot(rows, out):
    from rnnjax.study import plots  # matplotlib only when needed

    fig, ax = plots.subplots(figsize=(7, 4.5))
    colors = plots.COLORS
    models = sorted({r["model"] for r in rows})
    for i, model in enumerate(models):
        mine = [r for r in rows if r["model"] == model]
        for n_dev, ls in zip(sorted({r["devices"] for r in mine}), ("-", "-.", ":", "--"), strict=False):
            line = sorted((r["seeds"], r["seed_epochs_per_s"]) for r in mine if r["devices"] == n_dev)
            ax.plot(*np.transpose(line), marker="o", ls=ls, color=colors[i], label=f"{model}, {n_dev} device(s)")
        ax.axhline(
            mine[0]["naive_seed_epochs_per_s"],
            color=colors[i],
            ls="--",
            lw=1,
            label=f"{model}, naive loop (xla, one seed at a time)",
        )
    ax.set(xscale="log", yscale="log", xlabel="seeds trained at once", ylabel="seed-epochs per second")
    first = rows[0]
    ax.set_title(
        f"Training throughput on {first['device']}, {first['kernel']} kernel ({first['epochs']} epochs per run)"
    )
    plots.finish(fig, ax, out, "scaling", grid={"alpha": 0.3, "which": "both"})


if __name__ == "__main__":
    main(sys.argv[1:])
