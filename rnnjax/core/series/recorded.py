"""Recorded series: a CSV or .npy file, a NumPy array, or a dataset a package ships. The
sample index is the time axis; several channels are the columns of a [T, C] array or the
CSV columns chosen. Every problem is a ConfigError naming the value."""

import csv
import functools
import hashlib
import io
import re
import stat
from pathlib import Path

import numpy as np

from rnnjax.core.config import ConfigError

SUFFIXES = (".csv", ".npy")


class Recorded:
    """A finite float64 series, [T] (one channel) or [T, C] with a name per channel, and
    where it came from; equal (and hashed) by content."""

    def __init__(self, values, source: str, sha256: str | None = None, names: tuple[str, ...] = ()):
        values = np.array(values, np.float64)  # a copy nobody else can change
        values.setflags(write=False)
        self.values, self.source = values, source
        # a channel's name: a CSV column's, else its index ("0", "1", ...)
        self.names = names or tuple(str(c) for c in range(values.shape[1] if values.ndim == 2 else 1))
        shape = repr(values.shape[1:]).encode() if values.ndim == 2 else b""  # [T*C] and [T, C] differ
        self.sha256 = sha256 or hashlib.sha256(values.tobytes() + shape).hexdigest()

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other) -> bool:
        return isinstance(other, Recorded) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __repr__(self) -> str:
        return f"<{self.source} sha256:{self.sha256[:12]}>"

    def __deepcopy__(self, memo) -> "Recorded":
        return self  # immutable


ARRAY_RULE = "must be a 1-D array of numbers, or [time, channels]"


def from_array(values, source: str = "array") -> Recorded:
    """A series given in Python: a 1-D sequence of finite numbers, or a [T, C] array of C
    channels (named "0", "1", ...)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        raise ConfigError(f"data={type(values).__name__} is not allowed: {ARRAY_RULE}") from None
    if np.ma.isMaskedArray(values) and np.ma.getmaskarray(values).any():
        raise ConfigError(f"data (a masked array) is not allowed: it has masked values; {ARRAY_RULE}")
    if array.ndim not in (1, 2) or array.dtype.kind not in "iuf" or (array.ndim == 2 and array.shape[1] < 1):
        raise ConfigError(f"data (a {array.dtype} array of shape {array.shape}) is not allowed: {ARRAY_RULE}")
    return _checked(_one_channel_flat(array.astype(np.float64)), source)


def _one_channel_flat(array: np.ndarray) -> np.ndarray:
    """[T, 1] as [T]: one channel is the univariate series, whatever its shape."""
    return array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array


def _short(text: str, limit: int = 40) -> str:
    """A value from a file, cut to fit in one line of a message."""
    text = repr(text)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _checked(
    values: np.ndarray, source: str, sha256: str | None = None, where=lambda i: f"index {i}", names=()
) -> Recorded:
    if len(values) < 3:
        raise ConfigError(
            f"data={source!r} has {len(values)} value(s): too short for a window, a validation window and a forecast"
        )
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        i = bad[0][0]
        channel = ""
        if values.ndim == 2:
            name = names[bad[0][1]] if names else str(bad[0][1])
            channel = f", column {_short(name)}"
        raise ConfigError(
            f"data={source!r} has {values[tuple(bad[0])]} at {where(i)}{channel}: every value must be a finite number"
        )
    return Recorded(values, source, sha256, tuple(names))


# recorded data kept by finished run folders (their data.npz), by (SHA-256, column, columns):
# the very values a run read, so a folder reads back after its data file moved or changed
_KEPT: dict[tuple[str, str, str], Recorded] = {}


def remember(sha256: str, column: str, columns: str, values, names: tuple[str, ...]) -> None:
    """Keep a run folder's copy of a data file's values (checked against its SHA-256's
    claim by the folder's own checksums)."""
    values = np.asarray(values, np.float64)
    _KEPT[(sha256, column, columns)] = Recorded(values, "a run folder's copy", sha256, names)


def kept(sha256: str, column: str, columns: str) -> Recorded | None:
    return _KEPT.get((sha256, column, columns))


def load(path: str, column: str = "", columns: tuple[str, ...] = ()) -> Recorded:
    """The series in a .csv file (`column`: a name, or a 0-based index; default the only
    numeric column; `columns`: several, each a channel) or a .npy file ([T], or [T, C]: C
    channels); read once per (path, columns, file version)."""
    file = Path(path)
    suffix = file.suffix.lower()  # the name given says what the file is, not a link's target
    try:
        info = file.stat()
    except (OSError, ValueError) as err:
        raise ConfigError(f"data={path!r} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"data={path!r} is a folder: must be a .csv or .npy file")
    if not stat.S_ISREG(info.st_mode):  # a pipe or a device would block or never end
        raise ConfigError(f"data={path!r} is not a regular file: must be a .csv or .npy file")
    if suffix not in SUFFIXES:
        raise ConfigError(f"data={path!r} is not allowed: must be a .csv or .npy file")
    if column and suffix == ".npy":
        raise ConfigError(f"column={column!r} is not allowed with a .npy file: its columns are its channels")
    if columns and suffix == ".npy":
        raise ConfigError(
            f"columns={','.join(columns)!r} is not allowed with a .npy file: its columns are its channels"
        )
    return _load(str(file.resolve()), suffix, path, column, tuple(columns), info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=16)
def _load(resolved: str, suffix: str, path: str, column: str, columns: tuple, mtime_ns: int, size: int) -> Recorded:
    try:
        raw = Path(resolved).read_bytes()
    except OSError as err:
        raise ConfigError(f"data={path!r} cannot be read: {err.strerror}") from None
    sha256 = hashlib.sha256(raw).hexdigest()
    if suffix == ".npy":
        return _checked(_npy(raw, path), path, sha256)
    values, row_of, names = _csv(raw, path, column, columns)
    return _checked(values, path, sha256, where=lambda i: f"row {row_of(i)}", names=names)


def _npy(raw: bytes, path: str) -> np.ndarray:
    if not raw.startswith(b"\x93NUMPY"):  # text or anything else: NumPy would try it as a pickle
        raise ConfigError(f"data={path!r} is not a .npy file (no NumPy header): save one with numpy.save")
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):  # object arrays: loading them would run the file's code
            raise ConfigError(
                f"data={path!r} holds Python objects (a pickled array), which rnnjax never loads: "
                "save the numbers as a float array (np.save(path, np.asarray(values, float)))"
            ) from None
        raise ConfigError(f"data={path!r} is not a readable .npy file") from None
    except (OSError, EOFError, MemoryError):  # MemoryError: a header claiming a huge shape
        raise ConfigError(f"data={path!r} is not a readable .npy file") from None
    if (
        not isinstance(array, np.ndarray)
        or array.ndim not in (1, 2)
        or array.dtype.kind not in "iuf"
        or (array.ndim == 2 and array.shape[1] < 1)
    ):
        what = f"a {array.dtype} array of shape {array.shape}" if isinstance(array, np.ndarray) else "not one array"
        raise ConfigError(f"data={path!r} holds {what}: {ARRAY_RULE}")
    return _one_channel_flat(array.astype(np.float64))


# a number as a CSV file writes one: ASCII decimal or scientific notation (or nan/inf, which
# are refused by name later); not Python's wider float() syntax ("1_000", non-ASCII digits),
# which would read a header or a typo as a value
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity)", re.IGNORECASE | re.ASCII)


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if NUMBER.fullmatch(text) else None


def _csv(raw: bytes, path: str, column: str, columns: tuple[str, ...] = ()):
    """(values of the chosen column [T], or of the chosen `columns` [T, C]; the row number of
    value i as a text editor counts lines; the chosen columns' names)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"data={path!r} is not a UTF-8 text file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as err:  # a field past the csv module's limit, a NUL byte, ...
        raise ConfigError(f"data={path!r} is not a readable CSV file (line {reader.line_num}: {err})") from None
    while rows and not any(c.strip() for c in rows[-1][1]):  # blank lines at the end hold no values
        rows.pop()
    if not rows:
        raise ConfigError(f"data={path!r} is empty: no rows")
    blank = next((n for n, row in rows if not any(c.strip() for c in row)), None)
    if blank is not None:  # skipping it would shift every later value by one step in time
        raise ConfigError(f"data={path!r} has a blank row at line {blank}: a gap in the series is not allowed")
    first = rows[0][1]
    has_header = _is_header(rows)
    names = [c.strip() for c in first] if has_header else [str(i) for i in range(len(first))]
    body = rows[1:] if has_header else rows
    if not body:
        raise ConfigError(f"data={path!r} has a header but no values")
    for n, row in body:
        if len(row) != len(names):
            raise ConfigError(f"data={path!r} row {n} has {len(row)} fields, not {len(names)} like the first row")
    for name in (column, *columns):
        if name and names.count(name) > 1:
            field = "columns" if columns else "column"
            raise ConfigError(
                f"{field}={name!r} names {names.count(name)} columns of data={path!r}: give its 0-based index"
            )
    chosen = [_column_index(path, names, c, body, "columns") for c in columns] or [
        _column_index(path, names, column, body)
    ]
    if len(set(chosen)) < len(chosen):
        raise ConfigError(f"columns={','.join(columns)!r} names a column of data={path!r} twice")
    values = np.empty((len(body), len(chosen)), np.float64)
    for i, (n, row) in enumerate(body):
        for c, j in enumerate(chosen):
            value = _number(row[j])
            if value is None:
                raise ConfigError(
                    f"data={path!r} column {_short(names[j])} has {_short(row[j])} at row {n}: "
                    "every value must be a number"
                )
            values[i, c] = value
    several = len(chosen) > 1  # one column, however chosen, is the univariate series
    return (
        (values if several else values[:, 0]),
        lambda i: body[i][0],
        tuple(names[j] for j in chosen),  # one column: its name, the one chosen
    )


def _is_header(rows: list[tuple[int, list[str]]]) -> bool:
    """Whether the first row names the columns: one of its fields is not a number where the
    rows below hold numbers (so a text column's first value, `20.5,note0`, is data, not a
    name: taking it for a header dropped the first value); a first row alone is a header if
    any of its fields is not a number. A first row of numbers only is values."""
    first, below = rows[0][1], rows[1:]
    if not below:
        return any(_number(c) is None for c in first)
    return any(
        _number(c) is None and any(j < len(row) and _number(row[j]) is not None for _, row in below)
        for j, c in enumerate(first)
    )


def _column_index(path: str, names: list[str], column: str, body, field: str = "column") -> int:
    listed = ", ".join(_short(c) for c in names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    if column:
        if column in names:
            return names.index(column)
        if column.isascii() and column.isdigit() and int(column) < len(names):
            return int(column)
        raise ConfigError(
            f"{field}={_short(column)} is not in data={path!r}: its columns are {listed} (or 0-based indices)"
        )
    # a column holding any number at all is a candidate: one bad token in the value column
    # makes it an error once chosen, never a reason to choose another (a year or index column)
    numeric = [j for j in range(len(names)) if any(_number(row[j]) is not None for _, row in body)]
    if len(names) == 1:  # the only column: its first non-number is the message
        return 0
    if len(numeric) == 1:
        return numeric[0]
    what = "no numeric column" if not numeric else f"{len(numeric)} numeric columns"
    raise ConfigError(f"data={path!r} has {what}: choose one with column=NAME or a 0-based index; columns: {listed}")


@functools.lru_cache(maxsize=1)
def sunspots() -> Recorded:
    """Yearly mean sunspot numbers 1700-2008 (309 values), as statsmodels ships them."""
    try:
        from statsmodels.datasets import sunspots as dataset
    except ImportError:
        raise ConfigError(
            "series='sunspots' needs statsmodels, an optional extra: pip install -e '.[datasets]'"
        ) from None
    return _checked(dataset.load().data["SUNACTIVITY"].to_numpy(np.float64), "statsmodels sunspots")
