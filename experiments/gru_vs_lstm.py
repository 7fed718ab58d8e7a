"""The seed notebook's experiment, GRU(40) vs LSTM(40) on the damped series, over many seeds.

python experiments/gru_vs_lstm.py --seeds 8 --epochs 1000
"""

import numpy as np

from rnnjax import cli, experiment
from rnnjax.model import summary


def main(argv=None):
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gru,lstm", help="comma-separated cells (default gru,lstm)")
    cli.add_config_flags(parser, skip=("cell",))
    args = parser.parse_args(argv)
    configs = [cli.config_from_args(args, cell=name) for name in args.models.split(",")]

    for cfg in configs:
        print(summary(cfg))
        run = experiment.run(cfg)
        t = run.timing
        print(
            f"{cfg.cell}: {cfg.seeds} seeds x {cfg.epochs} epochs, compile {t.compile_s:.1f} s, "
            f"train {t.train_s:.1f} s ({cfg.seeds * cfg.epochs / t.train_s:.0f} seed-epochs/s)"
        )
        print(
            f"{cfg.cell}: median over seeds: final loss {np.median(run.loss[:, -1]):.3g}, "
            f"final val_loss {np.median(run.val_loss[:, -1]):.3g}, "
            f"forecast RMSE ({cfg.forecast_mode}, {cfg.horizon} steps) {np.median(run.forecast_rmse):.3g}\n"
        )


if __name__ == "__main__":
    main()
