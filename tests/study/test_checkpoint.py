import jax
import numpy as np
import pytest

from rnnjax.core import train
from rnnjax.core.config import Config
from rnnjax.study import checkpoint
from rnnjax.study import train as driver

CFG = Config(hidden=4, epochs=4, seeds=3)
RUNS = train.seed_runs(CFG)


@pytest.fixture(scope="module")
def progress():
    saved = []
    driver.train_chunked(CFG, 2, on_chunk=saved.append)
    return saved[0]


def test_roundtrip_is_exact(tmp_path, progress):
    path = checkpoint.save(tmp_path / "m.ckpt", CFG, RUNS, progress)
    back = checkpoint.load(path, CFG, RUNS)
    assert back.epoch == 2 and back.train_s == pytest.approx(progress.train_s)
    for a, b in zip(jax.tree.leaves(back.state), jax.tree.leaves(progress.state), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.history.loss, progress.history.loss)
    assert jax.tree.structure(back.state) == jax.tree.structure(progress.state)
    assert not list(tmp_path.glob(".*"))  # the temporary file was renamed


def test_a_corrupted_or_truncated_checkpoint_is_refused(tmp_path, progress):
    path = checkpoint.save(tmp_path / "m.ckpt", CFG, RUNS, progress)
    data = path.read_bytes()
    flipped = bytearray(data)
    flipped[-100] ^= 0xFF
    cases = {"flipped": bytes(flipped), "truncated": data[: len(data) // 2], "header only": data[:40], "empty": b""}
    for name, content in cases.items():
        bad = tmp_path / f"{name}.ckpt"
        bad.write_bytes(content)
        with pytest.raises(checkpoint.CheckpointError) as err:
            checkpoint.load(bad, CFG, RUNS)
        assert str(bad) in str(err.value) and "\n" not in str(err.value), name


def test_a_checkpoint_of_another_config_is_refused(tmp_path, progress):
    path = checkpoint.save(tmp_path / "m.ckpt", CFG, RUNS, progress)
    with pytest.raises(checkpoint.CheckpointError, match="another config"):
        checkpoint.load(path, CFG.replace(lr=0.5), RUNS)


def test_a_checkpoint_of_other_runs_is_refused(tmp_path, progress):
    path = checkpoint.save(tmp_path / "m.ckpt", CFG, RUNS, progress)
    with pytest.raises(checkpoint.CheckpointError, match="other runs"):
        checkpoint.load(path, CFG, train.seed_runs(CFG, [0, 1, 3]))
    assert checkpoint.read_epoch(path) == 2


def test_every_header_byte_is_checked(tmp_path, progress):
    """A flipped digit in the epoch count, a renamed or missing field, a header that is not
    an object: each refused whole, with one line, never a KeyError."""
    path = checkpoint.save(tmp_path / "m.ckpt", CFG, RUNS, progress)
    data = path.read_bytes()
    head, rest = data.split(b"\n", 1)
    header_line, payload = rest.split(b"\n", 1)
    cases = {
        "epoch digit": header_line.replace(b'"epoch": 2', b'"epoch": 3'),
        "renamed field": header_line.replace(b'"epoch"', b'"epoc"'),
        "missing field": header_line.replace(b'"train_s"', b'"x"'),
        "not an object": b"[1, 2]",
        "time": header_line.replace(b'"train_s": ', b'"train_s": -'),
    }
    for name, line in cases.items():
        assert line != header_line or name == "not an object", name
        bad = tmp_path / f"{name}.ckpt"
        bad.write_bytes(head + b"\n" + line + b"\n" + payload)
        with pytest.raises(checkpoint.CheckpointError) as err:
            checkpoint.load(bad, CFG, RUNS)
        assert str(bad) in str(err.value) and "\n" not in str(err.value), name


def test_arrays_are_named_by_their_tree_path_and_an_older_format_is_refused(tmp_path, progress):
    """A leaf is found by its path in the state, never by its position: an optimiser state
    whose leaves were reordered could not load into the wrong array."""
    import io
    import zipfile

    path = checkpoint.save(tmp_path / "m.ckpt", CFG, RUNS, progress)
    payload = path.read_bytes().split(b"\n", 2)[2]
    names = {n.removesuffix(".npy") for n in zipfile.ZipFile(io.BytesIO(payload)).namelist()}
    assert {"state.params['cell']['kernel']", "state.opt_state.hyperparams['learning_rate']", "state.epoch"} <= names
    assert {"runs/seed", "runs/lr", "runs/tau", "history/loss"} <= names
    older = tmp_path / "older.ckpt"
    older.write_bytes(path.read_bytes().replace(checkpoint.MAGIC, b"rnnjax checkpoint 5\n", 1))
    with pytest.raises(checkpoint.CheckpointError, match="another rnnjax \\(format 5, not 6\\)") as err:
        checkpoint.load(older, CFG, RUNS)
    assert "\n" not in str(err.value)


def test_a_checkpoint_of_other_data_is_refused(tmp_path, progress):
    """The checkpoint names the data it was trained on, whether or not the config does (a
    Python config of a file path carries no checksum)."""
    path = tmp_path / "y.npy"
    np.save(path, np.sin(np.arange(80) / 3.0))
    cfg = Config(data=str(path), hidden=4, epochs=4, seeds=3, horizon=30)
    ckpt = checkpoint.save(tmp_path / "m.ckpt", cfg, RUNS, progress)
    assert checkpoint.load(ckpt, cfg, RUNS).epoch == 2
    np.save(path, np.cos(np.arange(80) / 3.0))  # the same path, other values
    with pytest.raises(checkpoint.CheckpointError, match="trained on other data"):
        checkpoint.load(ckpt, Config(data=str(path), hidden=4, epochs=4, seeds=3, horizon=30), RUNS)
