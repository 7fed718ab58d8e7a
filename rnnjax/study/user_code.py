"""Your own code from the command line: `--import my_cells.py` (a file) or `--import
my_package.cells` (a module on sys.path or in the working folder), imported before any
flag is checked, so that the cells, series, metrics and baselines it registers can be
named. A run records each import (module, path, SHA-256 of its source) in config.json;
a resume and `load_run` import it again, and refuse it if it is missing or has changed."""

import contextlib
import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

from rnnjax.study import folders

PACKAGE_DIR = str(folders.PACKAGE_DIR)  # rnnjax's own frames, left out of an import's error
IMPORTLIB_DIR = os.path.dirname(importlib.__file__)  # frames of the import machinery, not the user's


class UserCodeError(ValueError):
    """An import that failed, registered a name already taken, or is missing or has changed
    since a run recorded it; the message is one line."""


# (registry, name) -> the import that registered it in this process: a later import that
# replaces it is refused, naming the one that holds it
_owner: dict[tuple[str, str], str] = {}


def registries() -> dict[str, dict]:
    """Every registry user code may add to, by what its entries are."""
    from rnnjax.core.cells import CELLS
    from rnnjax.core.series import SERIES
    from rnnjax.study.baselines import BASELINES
    from rnnjax.study.metrics import METRICS

    return {"cell": CELLS, "series": SERIES, "metric": METRICS, "baseline": BASELINES}


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def module_name(path: Path) -> str:
    """A file's module name: stable for its absolute path, and never one an installed
    package uses (a user's `json.py` must not replace the standard library's)."""
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"rnnjax_user_{stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def _imported_from(path: Path) -> ModuleType | None:
    """The module already imported from this file, under any name: run a file once per
    process, or its classes would be registered again as new objects."""
    for module in list(sys.modules.values()):
        # its own namespace, not getattr: a lazy module's __getattr__ may import, or raise
        file = module.__dict__.get("__file__") if isinstance(module, ModuleType) else None
        if isinstance(file, str) and os.path.abspath(file) == str(path):
            return module
    return None


def _exec_file(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: dataclasses (Flax modules) look themselves up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _import_name(name: str, root: str | None = None) -> ModuleType:
    """A module by name, from sys.path or the working folder (a script's sys.path[0] is its
    own folder, not the one it was started from), or `root` (where a run found it)."""
    added = [f for f in (os.getcwd(), root) if f is not None and f not in sys.path]
    sys.path.extend(added)
    try:
        return importlib.import_module(name)
    finally:
        for folder in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)


def _root(module: str, path: str) -> str:
    """The folder that, on sys.path, imports `module` from `path`: a module name resumes
    from any working folder, not only the one the run was started from."""
    depth = module.count(".") + 1 + (Path(path).name == "__init__.py")
    return str(Path(path).parents[depth - 1])


def _where(err: BaseException) -> str:
    """` (my_cells.py line 3)`: the line of the user's own file the error came from."""
    if isinstance(err, SyntaxError) and err.filename and err.lineno:
        return f" ({Path(err.filename).name} line {err.lineno})"
    frames = [
        f
        for f in traceback.extract_tb(err.__traceback__)
        if not f.filename.startswith(("<", PACKAGE_DIR, IMPORTLIB_DIR))
    ]
    if not frames:
        return ""
    last = [f for f in frames if f.filename == frames[0].filename][-1]  # the imported file's last frame
    return f" ({Path(last.filename).name} line {last.lineno})"


def _message(err: BaseException) -> str:
    text = err.msg if isinstance(err, SyntaxError) else str(err)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


def _restore(before: dict[str, dict]) -> None:
    for kind, registry in registries().items():
        registry.clear()
        registry.update(before[kind])


def load(given: str, module: str | None = None, root: str | None = None) -> dict:
    """Import `given` (a path ending .py, else a module name) and return its record; a
    UserCodeError (one line) if it fails or replaces a name already registered (the
    registries are then left as they were). `module` names a file's module (a recorded one);
    `root`, a folder to find a module name in (a recorded one)."""
    before = {kind: dict(registry) for kind, registry in registries().items()}
    path = None
    try:
        if given.endswith(".py"):
            path = Path(os.path.abspath(given))
            if not path.is_file():
                raise UserCodeError(f"--import {given} failed: no such file {str(path)!r}")
            loaded = _imported_from(path) or _exec_file(path, module or module_name(path))
        else:
            loaded = _import_name(given, root)
    except UserCodeError:
        raise
    except (Exception, SystemExit) as err:  # noqa: BLE001  (the user's code's own error: one line, no traceback)
        _restore(before)
        raise UserCodeError(f"--import {given} failed: {_message(err)}{_where(err)}") from None
    _refuse_taken(given, before)
    file = getattr(loaded, "__file__", None)
    file = None if file is None else os.path.abspath(file)
    return {"module": loaded.__name__, "given": given, "path": file, "sha256": None if file is None else sha256(file)}


def _refuse_taken(given: str, before: dict[str, dict]) -> None:
    """Refuse an import that replaced or removed a registered entry: a built-in cell, or one
    an earlier import registered, would silently change what a name means."""
    after = registries()
    for kind, entries in before.items():
        for name, entry in entries.items():
            if after[kind].get(name) is not entry:
                holder = _owner.get((kind, name)) or _holder(entry)
                _restore(before)
                raise UserCodeError(
                    f"--import {given} registers {kind} {name!r}, a name already taken ({holder}): choose another name"
                )
    for kind, entries in after.items():
        for name in entries.keys() - before[kind].keys():
            _owner.setdefault((kind, name), f"registered by --import {given}")


def _holder(entry) -> str:
    """Who registered an entry no import of this process did: rnnjax, or code run before."""
    defined = getattr(entry, "fn", None) or getattr(entry, "sample", None) or getattr(entry, "load", None) or entry
    return "built into rnnjax" if getattr(defined, "__module__", "").startswith("rnnjax.") else "registered before"


def load_all(given: list[str]) -> list[dict]:
    return [load(g) for g in given]


# files given again with --import beside --resume: their changed source is taken on purpose
# (to fix a metric that failed the outputs), and the run's record follows it (`changed`)
_accepted: set[str] = set()


def accept_changes(given: list[str]) -> None:
    """Accept, in this process, a changed source for these recorded imports (files or module
    names, as given): `restore` imports them as they are now instead of refusing them."""
    _accepted.update(os.path.abspath(g) if g.endswith(".py") else g for g in given)


def changed(records: list[dict]) -> list[dict]:
    """The recorded imports whose source now differs, with "sha256" their new one (and
    "replaced" the list of earlier ones): for a resume that accepted them to record."""
    out = []
    for rec in records:
        path = rec["path"]
        if path is not None and os.path.isfile(path) and sha256(path) != rec["sha256"]:
            out.append(rec | {"sha256": sha256(path), "replaced": [*rec.get("replaced", []), rec["sha256"]]})
    return out


def restore(records: list[dict]) -> None:
    """Import a run's recorded code again; a UserCodeError if a file is missing or its source
    changed since the run (its numbers could no longer be told apart from the new code's),
    unless its change was accepted (`accept_changes`)."""
    for rec in records:
        path, given = rec["path"], rec["given"]
        if path is not None and not os.path.isfile(path):
            raise UserCodeError(f"its --import {given} is missing ({path!r})")
        accepted = (path if given.endswith(".py") else given) in _accepted
        if path is not None and sha256(path) != rec["sha256"] and not accepted:
            raise UserCodeError(f"its --import {given} ({path!r}) has changed since the run (another SHA-256)")
        if given.endswith(".py"):
            now = load(path, rec["module"])
        else:
            now = load(given, root=None if path is None else _root(rec["module"], path))
        if accepted:
            continue
        if now["sha256"] != rec["sha256"]:  # a module name that now finds another file
            raise UserCodeError(f"its --import {given} is now {now['path']!r}, not the run's {path!r}")
