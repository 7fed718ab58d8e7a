"""How a script ends when it must end early: Ctrl-C (once: after the chunk's checkpoint;
twice, or while the outputs are written: at once), another process of a multi-process
sweep lost, a reader of its output gone, or a Ctrl-C while the interpreter exits. Every
file of a run folder is whole on disk at any instant (written to a temporary name and
renamed), so ending the process at once loses nothing, and never shows a traceback."""

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from rnnjax.scaling import distributed

EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_PEER_LOST = 3  # another process of a multi-process sweep ended during the run


class CtrlC:
    """Ctrl-C noted by a handler and raised as KeyboardInterrupt at the next `check()` (after
    a chunk's checkpoint), never inside library code that might swallow it (a finaliser
    running when the signal lands); a second Ctrl-C prints `message` and ends the process at
    once (`interrupted_now`: raising inside JAX's running program segfaulted)."""

    def __init__(self, message: str = "\ninterrupted"):
        self.pressed, self.message = False, message
        self.previous = None

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)

    def _handler(self, signum, frame):
        if self.pressed:
            interrupted_now(self.message)
        self.pressed = True

    def check(self):
        if self.pressed:
            raise KeyboardInterrupt


def interrupted_now(message: str) -> NoReturn:
    """Print `message` and end the process now, status 130, telling any peers first: every
    file of a run folder is whole on disk (written to a temporary name and renamed), so
    nothing is lost, and a resume goes on from the last checkpoint."""
    print(message, file=sys.stderr)
    distributed.end()
    _exit_now(EXIT_INTERRUPTED)


def _exit_now(code: int) -> NoReturn:
    """End the process now with `code`, its output flushed, skipping the exit handlers."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _quiet_exit(signum, frame) -> NoReturn:
    """A Ctrl-C once the script is done (its message printed, every file closed): end now,
    status 130, rather than raise inside JAX's exit handlers (a traceback after the message)."""
    _exit_now(EXIT_INTERRUPTED)


def on_peer_lost(resume_hint: str) -> Callable[[int], NoReturn]:
    """What a process of a multi-process sweep does when another one ends during the run
    (`distributed.initialize`'s on_lost): one line with its own resume command, the other
    peers told (`distributed.end`), exit 3 at once (the next gather would block, then
    abort). Every finished chunk is checkpointed."""

    def lost(process_id: int) -> NoReturn:
        print(
            f"\nerror: process {process_id} ended during the run; every finished chunk is checkpointed: once "
            f"every process can run, resume each (with its own --process-id): {resume_hint}",
            file=sys.stderr,
        )
        distributed.end()
        _exit_now(EXIT_PEER_LOST)

    return lost


def _leave_peers(err: BaseException) -> None:
    """A process that leaves a multi-process sweep before its end (an error, Ctrl-C) tells
    its peers at once (`distributed.end`) and exits now: JAX's own exit would wait for them
    at a shutdown barrier. Nothing when it has no peers or has done its part."""
    signal.signal(signal.SIGINT, _quiet_exit)  # a Ctrl-C while process 0 waits for its peers: quiet
    if not distributed.end():
        return
    if not isinstance(err, SystemExit):  # a failure of rnnjax's own: its traceback, as ever
        traceback.print_exception(err)
    code = err.code if isinstance(err, SystemExit) else 1
    if code is not None and not isinstance(code, int):  # SystemExit("text"): Python prints it, os._exit would not
        print(code, file=sys.stderr)
    _exit_now(0 if code is None else code if isinstance(code, int) else 1)


class _Unbroken:
    """A script's stdout or stderr that, once its reader has gone (a closed pipe: `| head`),
    sends the rest to os.devnull (Python's own recipe for BrokenPipeError): the run goes on
    and writes every file of its folder, rather than stop blaming the folder."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main_guard(main, interrupted: str = "interrupted before training started; nothing to resume") -> None:
    """Run a script's main; a Ctrl-C before training starts is one line (`interrupted`) and
    exit 130. (The scripts ignore nothing while their libraries load: Ctrl-C then ends them
    quietly.) Once main has returned or exited, a Ctrl-C ends the process at once, quietly
    (`_quiet_exit`); a process of a multi-process sweep that ends early tells its peers
    (`_leave_peers`); a reader of its output that goes away does not stop it (`_Unbroken`)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.stdout, sys.stderr = _Unbroken(sys.stdout), _Unbroken(sys.stderr)
    try:
        try:
            main()
        except KeyboardInterrupt:
            print(f"\n{interrupted}", file=sys.stderr)
            raise SystemExit(EXIT_INTERRUPTED) from None
    except BaseException as err:
        _leave_peers(err)
        raise
    finally:
        signal.signal(signal.SIGINT, _quiet_exit)
