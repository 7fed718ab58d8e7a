"""Command-line flags made from the Config fields, with one-line errors and exit status 2."""

import argparse
import dataclasses
import math
import signal
import sys
from typing import NoReturn

from rnnjax.config import Config, ConfigError

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, without the usage block."""

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: error: {message}")


def fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


class CtrlC:
    """Ctrl-C noted by a handler and raised as KeyboardInterrupt at the next `check()` (after
    a chunk's checkpoint), never inside library code that might swallow it (a finaliser
    running when the signal lands); a second Ctrl-C raises at once."""

    def __init__(self):
        self.pressed = False
        signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum, frame):
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def check(self):
        if self.pressed:
            raise KeyboardInterrupt


def _finite_float(text: str) -> float:
    value = float(text)  # ValueError becomes argparse's "invalid value" message
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(text)
    return lowered in ("true", "1", "yes")


_finite_float.__name__ = "finite number"  # argparse names the type in its message
_bool.__name__ = "true/false"
_PARSERS = {int: int, float: _finite_float, str: str, bool: _bool}


def add_config_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One `--field-name` flag per Config field (default: the Config default)."""
    defaults = Config()
    for field in dataclasses.fields(Config):
        if field.name in skip:
            continue
        kind = type(getattr(defaults, field.name))
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_PARSERS[kind],
            default=None,
            metavar=kind.__name__.upper(),
            help=f"default {getattr(defaults, field.name)!r}",
        )


def config_from_args(args: argparse.Namespace, **fixed) -> Config:
    """The Config the flags ask for, or exit 2 with the validation message."""
    names = {f.name for f in dataclasses.fields(Config)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    try:
        return Config(**{**given, **fixed})
    except ConfigError as err:
        fail(f"error: {err}")
