"""A K-origin backtest as one program against K separate runs, in the same minute: wall time
and the ratio, printed and drawn.

    python experiments/backtest_speed.py --origins 8 --seeds 16 --epochs 200 --out runs/backtest_speed
"""

import signal
import sys

if __name__ == "__main__":  # Ctrl-C while the libraries load: stop quietly (status 130)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from rnnjax.scaling.runtime import libraries_or_exit

    libraries_or_exit()  # a value JAX or matplotlib refuses in the environment: one line, exit 2

# isort: split

from rnnjax.scaling import bench, runtime
from rnnjax.study import cli, folders


def main(argv=None):
    runtime.use_all_cores()  # one XLA host device per core, before anything computes
    argv = sys.argv[1:] if argv is None else argv
    imports = cli.import_user_code(argv)  # before --cell and --series are checked
    parser = cli.Parser(description=__doc__.splitlines()[0])
    cli.add_import_flag(parser)
    parser.add_argument("--out", default=None, help="a new or empty folder (default: runs/<time stamp>)")
    cli.add_config_flags(parser, skip=("protocol", "fold"))
    args = parser.parse_args(argv)
    cli.start_backend()
    given = {k: v for k, v in vars(args).items() if k not in ("out", "imports") and v is not None}
    defaults = {"series": "sunspots", "origins": 8, "horizon": 12, "seeds": 16, "epochs": 200}
    if "data" in given:  # a file is the series
        defaults.pop("series")
    cfg = cli.config_from_args(args, protocol="backtest", **{k: v for k, v in defaults.items() if k not in given})
    out = cli.new_folder(args.out)
    t = bench.backtest_timing(cfg)
    ratio = t.separate_s / t.one_program_s
    line = (
        f"{cfg.cell}, {cfg.series}: {t.origins} origins x {cfg.seeds} seeds"
        f" x {cfg.epochs} epochs: one program {t.one_program_s:.1f} s, {t.origins} separate runs "
        f"{t.separate_s:.1f} s ({ratio:.2f}x)"
    )
    print(line)
    folders.write_json(
        out / "backtest_speed.json", t._asdict() | {"ratio": ratio, "config": cfg.as_dict(), "imports": imports}
    )
    from rnnjax.study.plots import finish, subplots

    fig, ax = subplots(figsize=(6, 3.5))
    ax.barh([0, 1], [t.one_program_s, t.separate_s], color=["tab:blue", "tab:gray"])
    ax.set_yticks([0, 1], [f"one program\n({t.origins} origins x {cfg.seeds} seeds)", f"{t.origins} separate runs"])
    ax.barh([], [], color="tab:blue", label=f"{ratio:.2f}x faster as one program")
    ax.set(
        xlabel="wall time (s), compile included", title=f"Backtest: {t.origins} origins, {cfg.cell}, one measurement"
    )
    finish(fig, ax, out, "backtest_speed")
    print(f"wrote {out}")


if __name__ == "__main__":
    cli.main_guard(main)
