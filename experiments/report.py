"""Redraw a finished run folder's report.md, summary.json and figures from its saved arrays,
without training (an experiment's or a sweep's; rj.report).

    python experiments/report.py experiments/results/five_cells
"""

import signal
import sys

if __name__ == "__main__":  # Ctrl-C while the libraries load: stop quietly (status 130)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from rnnjax.scaling.runtime import libraries_or_exit

    libraries_or_exit()  # a value JAX or matplotlib refuses in the environment: one line, exit 2

# isort: split
from rnnjax.study import cli, folders, run_folder


def main(argv=None):
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a finished experiment's or sweep's run folder")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run_folder.report(args.folder)
    except folders.RunDirError as err:
        cli.fail(f"error: {err}")
    print(f"redrew {args.folder}: report.md, summary.json, figures")


if __name__ == "__main__":
    cli.main_guard(main, interrupted="interrupted; every file is whole: run it again to redraw them all")
