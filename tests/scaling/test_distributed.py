import socket
import threading
import time

import numpy as np
import pytest
from conftest import coordinator_port

from rnnjax.scaling import distributed


def test_processes_share_the_runs_in_contiguous_blocks():
    assert [distributed.block(10, i, 3) for i in range(3)] == [(0, 4), (4, 8), (8, 10)]
    assert [distributed.block(5, i, 4) for i in range(4)] == [(0, 2), (2, 4), (4, 5), (5, 5)]
    assert distributed.block(7) == (0, 7)  # one process


def test_one_process_gathers_its_own_rows():
    tree = {"a": np.arange(6).reshape(3, 2)}
    assert distributed.gather(tree, [3]) is tree


def test_cluster_size_reads_the_launcher(monkeypatch):
    for var in ("SLURM_STEP_NUM_TASKS", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert distributed.cluster_size() == 1 and not distributed.cluster_launched()
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert distributed.cluster_size() == 4 and distributed.cluster_launched()


@pytest.mark.parametrize("taken", [0, 1])
def test_a_port_process_0_needs_in_use_is_named(taken):
    """jax.distributed segfaulted on a coordinator port in use; the rendezvous raised OSError."""
    port = coordinator_port()
    with socket.create_server(("127.0.0.1", port + taken)):
        problem = distributed.ports_problem(f"127.0.0.1:{port}")
        assert f"port {port + taken} " in problem and "in use" in problem
        if taken:  # and the rendezvous itself, should the port be taken after the check
            with pytest.raises(distributed.PeerError, match=f"port {port + 1} .*in use"):
                distributed.rendezvous(f"127.0.0.1:{port}", 2, 0, 1)
    assert distributed.ports_problem(f"127.0.0.1:{port}") is None


def _watched(process_ids, own_id=0):
    """A _Watch over socket pairs: {peer id: the peer's end}, the losses it reports."""
    watch, lost, ends = distributed._Watch(), [], {}
    for pid in process_ids:
        ours, theirs = socket.socketpair()
        ends[pid] = (ours, theirs)
    watch.start({pid: ours for pid, (ours, _) in ends.items()}, lost.append)
    return watch, lost, {pid: theirs for pid, (_, theirs) in ends.items()}


def _settle(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_peer_that_ends_before_saying_done_is_lost_once():
    watch, lost, peers = _watched([1, 2, 3])
    peers[2].close()  # killed: its socket closes
    peers[3].close()  # a second loss meanwhile is not reported again
    _settle(lambda: watch.gone[2].is_set() and watch.gone[3].is_set())
    assert len(lost) == 1 and lost[0] in (2, 3)


def test_a_peer_that_said_done_may_end():
    watch, lost, peers = _watched([1, 2])
    peers[1].sendall(distributed.DONE)
    peers[1].close()
    _settle(lambda: watch.gone[1].is_set())
    assert lost == []
    watch.finish()  # this process done: a peer ending now is no loss either
    assert peers[2].recv(16) == distributed.DONE
    peers[2].close()
    _settle(lambda: watch.gone[2].is_set())
    assert lost == []


def test_process_0_ending_early_tells_its_peers_and_waits_for_them():
    watch, lost, peers = _watched([1, 2])
    ended = []

    def peer(pid):  # a peer reads the end of its socket, then ends
        assert peers[pid].recv(16) == b""
        time.sleep(0.2)
        ended.append(pid)
        peers[pid].close()

    threads = [threading.Thread(target=peer, args=(pid,)) for pid in peers]
    for t in threads:
        t.start()
    assert watch.end(wait_s=10)
    assert sorted(ended) == [1, 2] and lost == []  # both ended before end() returned; no loss reported
    for t in threads:
        t.join()
    assert not distributed._Watch().end(wait_s=0)  # no peers (one process): nothing to tell


def _meet(agree_0: str, agree_1: str):
    """Process 0 and process 1's rendezvous, on threads: what each returned or raised."""
    coordinator, got = f"127.0.0.1:{coordinator_port()}", {}

    def one(pid, agree):
        try:
            got[pid] = distributed.rendezvous(coordinator, 2, pid, 10, agree)
        except distributed.PeerError as err:
            got[pid] = err

    threads = [threading.Thread(target=one, args=a) for a in ((0, agree_0), (1, agree_1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got


def test_processes_started_with_another_study_are_refused_each():
    """Process 1 given other flags trained its own grid; process 0 wrote its study over it."""
    got = _meet("a" * 64, "b" * 64)
    assert "process(es) 1 of 2 were started with another study than process 0" in str(got[0])
    assert "process 0 at 127.0.0.1:" in str(got[1]) and "give every process the same flags" in str(got[1])
    same = _meet("a" * 64, "a" * 64)
    assert set(same[0]) == {1} and set(same[1]) == {0}
    for conns in same.values():
        for conn in conns.values():
            conn.close()
