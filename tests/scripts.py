"""The experiment scripts loaded as modules, so that a test can call their `main(argv)` in
this process (no interpreter start, compiled programs shared); a few tests still start
real processes, for what only a process shows (exit status, signals, stderr)."""

import importlib.util
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def load(name: str):
    """experiments/<name>.py as a fresh module (its `if __name__ == "__main__"` block not run)."""
    path = EXPERIMENTS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"script_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
