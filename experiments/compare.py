"""Two finished experiments, model by model and seed by seed: did the change between them
(optimiser, schedule, early stopping, ...) help the same models from the same weights?

    python experiments/compare.py runs/sgd runs/adam --metric mase
"""

import signal
import sys

if __name__ == "__main__":  # Ctrl-C while the libraries load: stop quietly (status 130)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from rnnjax.scaling.runtime import libraries_or_exit

    libraries_or_exit()  # a value JAX or matplotlib refuses in the environment: one line, exit 2

# isort: split

from rnnjax.study import cli, compare, folders, report
from rnnjax.study.metrics import METRICS


def main(argv=None):
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="a finished experiment's folder (the first of each pair)")
    parser.add_argument("b", help="another, trained from the same seeds on the same data")
    parser.add_argument("--metric", default="forecast_rmse", choices=list(METRICS), help="default forecast_rmse")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = compare.compare(args.a, args.b, args.metric)
    except folders.RunDirError as err:
        cli.fail(f"error: {err}")
    print(f"{METRICS[args.metric].label}: {args.a} (a) against {args.b} (b), paired by seed")
    for folder, names in zip((args.a, args.b), compare.only_in(args.a, args.b), strict=True):
        if names:
            print(f"not compared, only in {folder}: {', '.join(names)}")
    print("| model | median a − b [95% CI] | a better in (Wilson 95% CI) | Wilcoxon p | pairs |")
    print("| --- | --- | --- | ---: | ---: |")
    for name, p in result.items():
        ci = p["diff_ci95"] and f"[{report.fmt(p['diff_ci95'][0])}, {report.fmt(p['diff_ci95'][1])}]"
        frac = (
            p["paired_fraction_ci95"]
            and f"[{report.fmt(p['paired_fraction_ci95'][0])}, {report.fmt(p['paired_fraction_ci95'][1])}]"
        )
        print(
            f"| {name} | {report.fmt(p['median_diff'])} {ci or ''} | {report.fmt(p['paired_fraction'])} {frac or ''} "
            f"| {report.fmt(p['p_value'], 2)} | {p['pairs']} |"
        )


if __name__ == "__main__":
    cli.main_guard(main, interrupted="interrupted; nothing was written")
