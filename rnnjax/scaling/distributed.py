"""Several processes (hosts) with jax.distributed: each trains a contiguous block of the
runs on its own devices, then the blocks are gathered (multihost_utils.process_allgather)
so that process 0 can write the run folder. The runs never talk to each other, so no
training program spans processes, and the numbers are those of one process.

Launch: under SLURM (srun) or Open MPI (mpirun) jax.distributed finds its peers itself;
elsewhere give every process --coordinator HOST:PORT --num-processes N --process-id I. Then
a TCP rendezvous on the coordinator's port + 1 gathers the processes first, and its sockets
stay open for the run: a process that ends before it has done its part of every gather is
noticed at once by the others (jax.distributed would block in the next gather for about
100 s, then abort with a C++ stack trace).
"""

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils


def cluster_size() -> int:
    """The process count of a SLURM job step or an Open MPI launch; 1 elsewhere."""
    for var in ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"):
        count = os.environ.get(var, "")
        if count.isdigit() and int(count) > 1:
            return int(count)
    return 1


def cluster_launched() -> bool:
    """True under a SLURM job step or an Open MPI launch of more than one process."""
    return cluster_size() > 1


def process_id_before_start(process_id: int | None = None) -> int:
    """This process's index before jax.distributed starts (to choose the writer early): the
    explicit id, else the cluster's rank, else 0."""
    if process_id is not None:
        return process_id
    if cluster_launched():
        for var in ("SLURM_PROCID", "OMPI_COMM_WORLD_RANK"):
            if os.environ.get(var, "").isdigit():
                return int(os.environ[var])
    return 0


class PeerError(RuntimeError):
    """The processes cannot meet: one did not start within the timeout, a port is in use, or
    they were started with different studies; the message is one line."""


def _listen(port: int) -> socket.socket:
    """A server socket on `port` of every address of this machine, IPv4 and IPv6 where it can
    (jax.distributed's coordinator listens on [::])."""
    if socket.has_dualstack_ipv6():
        return socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
    return socket.create_server(("", port))


def ports_problem(coordinator: str) -> str | None:
    """Why process 0 could not serve on this machine what `coordinator` (HOST:PORT) asks of
    it, in one line: jax.distributed's coordinator on PORT (taken, it segfaulted) and the
    rendezvous on PORT + 1; None when both are free."""
    port = int(coordinator.rpartition(":")[2])
    for p, what in ((port, "jax.distributed's coordinator"), (port + 1, "the rendezvous, the coordinator's port + 1")):
        try:
            _listen(p).close()
        except OSError as err:
            return f"--coordinator {coordinator}: port {p} ({what}) cannot be used on this machine: {os.strerror(err.errno)}"
    return None


def _hello(conn: socket.socket) -> tuple[int, str]:
    """A peer's first line: its process id and what it is about to run (`agree`)."""
    said = b""
    while b"\n" not in said and len(said) < 256 and (chunk := conn.recv(256)):
        said += chunk
    pid, _, agree = said.decode().strip().partition(" ")
    return int(pid), agree


def rendezvous(
    coordinator: str, num_processes: int, process_id: int, timeout_s: float, agree: str = ""
) -> dict[int, socket.socket]:
    """Wait until every process has started, over a plain TCP socket on the port after the
    coordinator's, or raise a PeerError naming what is missing. jax.distributed's own wait
    ends in an abort with a C++ stack trace; this one ends in a sentence. Every process must
    bring the same `agree` (a digest of the study it is about to run), or each is refused:
    process 0 would write its own study over the others' results. Returns the open sockets
    to the peers ({process id: socket}: process 0 holds one per peer, a peer the one to
    process 0), which `initialize` watches (`_Watch`)."""
    host, _, port = coordinator.rpartition(":")
    address, deadline = (host, int(port) + 1), time.monotonic() + timeout_s
    if process_id == 0:
        waiting, peers, others = set(range(1, num_processes)), {}, []
        try:
            server = _listen(address[1])
        except OSError as err:
            raise PeerError(
                f"--coordinator {coordinator}: port {address[1]} (the rendezvous, the coordinator's port + 1) "
                f"cannot be used on this machine: {os.strerror(err.errno)}; choose another port"
            ) from None
        with server:
            while waiting and time.monotonic() < deadline:
                server.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    conn, _ = server.accept()
                    conn.settimeout(5)
                except (TimeoutError, OSError):
                    continue
                try:
                    peer, brought = _hello(conn)
                except (TimeoutError, ValueError, OSError):
                    conn.close()
                    continue
                if peer in waiting:
                    waiting.discard(peer)
                    peers[peer] = conn
                    if brought != agree:
                        others.append(peer)
                else:
                    conn.close()
        if waiting:
            for conn in peers.values():
                conn.close()
            missing = ", ".join(map(str, sorted(waiting)))
            raise PeerError(
                f"process 0 at {coordinator}: process(es) {missing} of {num_processes} did not start within "
                f"{timeout_s:g} s (--init-timeout); start every process with the same --coordinator"
            )
        for conn in peers.values():
            with contextlib.suppress(OSError):  # a peer gone since: its watcher reports it
                conn.sendall(b"no" if others else b"go")
        if others:
            for conn in peers.values():
                conn.close()
            raise PeerError(
                f"process(es) {', '.join(map(str, sorted(others)))} of {num_processes} were started with another "
                "study than process 0 (other models, grid values, seeds or data): give every process the same flags"
            )
        return peers
    while time.monotonic() < deadline:
        try:
            conn = socket.create_connection(address, timeout=max(0.01, deadline - time.monotonic()))
        except OSError:
            time.sleep(0.2)
            continue
        try:
            conn.sendall(f"{process_id} {agree}\n".encode())
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            answer = b""
            while len(answer) < 2 and (chunk := conn.recv(2 - len(answer))):
                answer += chunk
        except OSError:
            answer = b""
        if answer == b"go":
            return {0: conn}
        if answer == b"no":
            conn.close()
            raise PeerError(
                f"process {process_id} of {num_processes}: process 0 at {coordinator} was started with another study "
                "than this process (other models, grid values, seeds or data): give every process the same flags"
            )
        conn.close()
        time.sleep(0.2)
    raise PeerError(
        f"process {process_id} of {num_processes}: process 0 at {coordinator} (and port {address[1]}) did not "
        f"gather every process within {timeout_s:g} s (--init-timeout); is process 0 running?"
    )


DONE = b"done"  # said by a process that has done its part of every gather
WAIT_FOR_PEERS_S = 10.0  # how long process 0, ending early, waits for its peers to end first


class _Watch:
    """The rendezvous's sockets while a multi-process sweep runs, one daemon thread reading
    each: a peer whose socket closes before it said DONE (killed, crashed, interrupted, or
    told by `end`) has left the run, and `on_lost(its id)` is called at once, once, unless
    this process has finished (`finish`) or is ending itself (`end`)."""

    def __init__(self):
        self.peers: dict[int, socket.socket] = {}
        self.gone: dict[int, threading.Event] = {}
        self.finished, self.ending = threading.Event(), threading.Event()
        self.lock = threading.RLock()  # end() may run in a signal handler while the main thread holds it

    def start(self, peers: dict[int, socket.socket], on_lost: Callable[[int], None]) -> None:
        for process_id, conn in peers.items():
            self.peers[process_id], self.gone[process_id] = conn, threading.Event()
            threading.Thread(target=self._read, args=(process_id, on_lost), daemon=True).start()

    def _read(self, process_id: int, on_lost: Callable[[int], None]) -> None:
        conn, said = self.peers[process_id], b""
        with contextlib.suppress(OSError):
            conn.settimeout(None)
            while DONE not in said and (chunk := conn.recv(16)):
                said += chunk
        self.gone[process_id].set()
        if DONE in said or self.finished.is_set():
            return
        with self.lock:  # the first loss is reported; a process already ending reports none
            if self.ending.is_set():
                return
            self.ending.set()
        on_lost(process_id)

    def finish(self) -> None:
        self.finished.set()
        for conn in self.peers.values():
            with contextlib.suppress(OSError):
                conn.sendall(DONE)

    def end(self, wait_s: float) -> bool:
        if not self.peers or self.finished.is_set():
            return False
        with self.lock:
            self.ending.set()
        for conn in self.peers.values():  # each peer reads the end of its socket: a loss
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
        if 0 not in self.peers:  # process 0: its peers end before its coordinator does
            deadline = time.monotonic() + wait_s
            for gone in self.gone.values():
                gone.wait(max(0.0, deadline - time.monotonic()))
        return True


_watch = _Watch()


def finish() -> None:
    """This process has done its part of every gather: say so to every peer, which may then
    see it end without taking it for a loss."""
    _watch.finish()


def end(wait_s: float = WAIT_FOR_PEERS_S) -> bool:
    """This process leaves a multi-process sweep before its end (an error, Ctrl-C, a lost
    peer): every peer is told, and process 0 waits (up to `wait_s`) until they have ended,
    so that none of them meets a vanished coordinator (jax.distributed would abort it with
    a C++ stack trace). True if there were peers to tell: the caller then exits at once,
    skipping JAX's exit, whose shutdown barrier would wait for the peers that left."""
    return _watch.end(wait_s)


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: int = 120,
    on_lost: Callable[[int], None] | None = None,
    agree: str = "",
):
    """jax.distributed.initialize with the explicit settings (after `rendezvous`, which every
    process must reach with the same `agree`, and whose sockets are then watched, calling
    `on_lost` if given, until `finish` or `end`), or from the cluster's environment, or not
    at all (one process). Call before anything runs on a device."""
    if (coordinator is None and not cluster_launched()) or num_processes == 1:  # one process: no one to meet
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # gathers between CPU processes
    if coordinator is None:
        jax.distributed.initialize(initialization_timeout=timeout_s)
    else:
        peers = rendezvous(coordinator, num_processes, process_id, timeout_s, agree)
        if on_lost is not None:
            _watch.start(peers, on_lost)
        jax.distributed.initialize(coordinator, num_processes, process_id, initialization_timeout=timeout_s)


def block(n: int, index: int | None = None, count: int | None = None) -> tuple[int, int]:
    """[start, stop) of process `index`'s share of n runs: equal contiguous blocks, the last
    one shorter (or empty)."""
    index = jax.process_index() if index is None else index
    count = jax.process_count() if count is None else count
    size = -(-n // count)
    return min(n, index * size), min(n, (index + 1) * size)


def gather(tree, counts: list[int]):
    """Every process's rows of a pytree of [counts[i], ...] NumPy arrays (process i holds
    counts[i] rows), concatenated in process order; with one process, `tree` itself."""
    if jax.process_count() == 1:
        return tree
    size = max(max(counts), 1)

    def pad(a):
        a = np.asarray(a)
        return np.concatenate([a, np.zeros((size - len(a), *a.shape[1:]), a.dtype)])

    whole = multihost_utils.process_allgather(jax.tree.map(pad, tree), tiled=False)
    return jax.tree.map(lambda a: np.concatenate([np.asarray(a)[i, :c] for i, c in enumerate(counts)]), whole)
