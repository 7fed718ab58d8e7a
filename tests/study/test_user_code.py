"""--import: your own code imported once, recorded, refused in one line when it fails or
takes a name, and imported again only if it is unchanged."""

import hashlib

import pytest

from rnnjax.core.cells import CELLS
from rnnjax.study import user_code

MY_CELLS = """\
from rnnjax.core.cells import CELLS, KerasGRUCell


class MyCell(KerasGRUCell):
    pass


CELLS["mycell"] = MyCell
"""


@pytest.fixture
def my_cells(tmp_path, registries):
    path = tmp_path / "my_cells.py"
    path.write_text(MY_CELLS)
    return path


def test_a_file_registers_its_cell_and_is_recorded(my_cells, monkeypatch):
    monkeypatch.chdir(my_cells.parent)
    rec = user_code.load("my_cells.py")
    assert CELLS["mycell"].__name__ == "MyCell"
    assert rec == {
        "module": user_code.module_name(my_cells),
        "given": "my_cells.py",
        "path": str(my_cells),
        "sha256": hashlib.sha256(MY_CELLS.encode()).hexdigest(),
    }
    assert rec["module"].startswith("rnnjax_user_my_cells_")  # never a name an installed package has
    cls = CELLS["mycell"]
    assert user_code.load(str(my_cells)) == rec | {"given": str(my_cells)}  # once per process:
    assert CELLS["mycell"] is cls  # not run again, so not a taken name


def test_a_failing_import_is_its_own_error_in_one_line(tmp_path, registries):
    (tmp_path / "bad.py").write_text('from rnnjax.core.cells import CELLS\nCELLS["half"] = 1\nz = q + 1\n')
    with pytest.raises(user_code.UserCodeError) as err:
        user_code.load(str(tmp_path / "bad.py"))
    assert (
        str(err.value) == f"--import {tmp_path / 'bad.py'} failed: NameError: name 'q' is not defined (bad.py line 3)"
    )
    assert "half" not in CELLS  # what it registered before failing is gone
    (tmp_path / "syntax.py").write_text("x = 1\ndef f(:\n")
    with pytest.raises(user_code.UserCodeError, match=r"SyntaxError: invalid syntax \(syntax.py line 2\)$"):
        user_code.load(str(tmp_path / "syntax.py"))
    with pytest.raises(user_code.UserCodeError, match="ModuleNotFoundError: No module named 'no_such_cells'$"):
        user_code.load("no_such_cells")


def test_a_taken_name_is_refused_and_left_as_it_was(my_cells, tmp_path):
    gru = CELLS["gru"]
    (tmp_path / "taken.py").write_text('from rnnjax.core.cells import CELLS\nCELLS["gru"] = CELLS["lstm"]\n')
    with pytest.raises(user_code.UserCodeError, match="registers cell 'gru', a name already taken .built into rnnjax."):
        user_code.load(str(tmp_path / "taken.py"))
    assert CELLS["gru"] is gru
    user_code.load(str(my_cells))
    (tmp_path / "again.py").write_text(
        'from rnnjax.core.cells import CELLS, KerasLSTMCell\nCELLS["mycell"] = KerasLSTMCell\n'
    )
    with pytest.raises(
        user_code.UserCodeError, match=f"'mycell', a name already taken .registered by --import {my_cells}"
    ):
        user_code.load(str(tmp_path / "again.py"))


def test_a_recorded_import_comes_back_only_unchanged(my_cells):
    rec = user_code.load(str(my_cells))
    user_code.restore([rec])  # the same file: fine, and not run twice
    my_cells.write_text(MY_CELLS + "# edited\n")
    with pytest.raises(user_code.UserCodeError, match="has changed since the run"):
        user_code.restore([rec])
    my_cells.unlink()
    with pytest.raises(user_code.UserCodeError, match="is missing"):
        user_code.restore([rec])


def test_a_changed_import_given_again_is_taken_and_its_new_source_recorded(my_cells, monkeypatch):
    """Fixing a metric in the run's own --import file made the documented `--resume` refuse it
    as changed, so a trained folder could never finish."""
    monkeypatch.setattr(user_code, "_accepted", set())
    rec = user_code.load(str(my_cells))
    my_cells.write_text(MY_CELLS + "# fixed\n")
    with pytest.raises(user_code.UserCodeError, match="has changed since the run"):
        user_code.restore([rec])  # not given again: refused, as ever
    user_code.accept_changes([str(my_cells)])
    user_code.restore([rec])
    new = hashlib.sha256((MY_CELLS + "# fixed\n").encode()).hexdigest()
    assert user_code.changed([rec]) == [rec | {"sha256": new, "replaced": [rec["sha256"]]}]


def test_a_module_name_import_comes_back_from_any_working_folder(tmp_path, registries, monkeypatch):
    """A module name resumed only from the working folder the run was started from."""
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "plain_mod_f11.py").write_text("X = 1\n")
    monkeypatch.chdir(folder)
    rec = user_code.load("plain_mod_f11")
    monkeypatch.delitem(__import__("sys").modules, "plain_mod_f11")  # a new process
    monkeypatch.chdir(tmp_path)
    user_code.restore([rec])  # found where the run found it
    assert user_code._root("pkg.cells", "/x/pkg/cells.py") == "/x"
    assert user_code._root("pkg", "/x/pkg/__init__.py") == "/x"


def test_an_import_that_calls_sys_exit_is_its_one_line_error(tmp_path, registries):
    (tmp_path / "leaves.py").write_text("import sys\nsys.exit(0)\n")
    with pytest.raises(user_code.UserCodeError, match=r"failed: SystemExit: 0 \(leaves.py line 2\)$"):
        user_code.load(str(tmp_path / "leaves.py"))
