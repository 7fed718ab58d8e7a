import os
import subprocess
import sys

from rnnjax.scaling import runtime

DEVICES = "import rnnjax, jax; print(len(jax.devices('cpu')))"


def python(code, **env):
    full = {**os.environ, "XLA_FLAGS": "", **env}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=full, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_one_host_device_per_core_by_default():
    assert python(DEVICES) == str(runtime.usable_cores())


def test_host_devices_can_be_set_or_turned_off():
    assert python(DEVICES, RNNJAX_HOST_DEVICES="3") == "3"
    assert python(DEVICES, RNNJAX_HOST_DEVICES="1") == "1"


def test_an_explicit_xla_flag_wins():
    assert python(DEVICES, XLA_FLAGS="--xla_force_host_platform_device_count=5") == "5"


def test_import_order_does_not_matter():
    assert python("import jax, rnnjax; print(len(jax.devices('cpu')))") == str(runtime.usable_cores())
    assert python("import jax, rnnjax; print(len(jax.devices('cpu')))", RNNJAX_HOST_DEVICES="3") == "3"


def test_a_backend_already_running_is_reported_once_with_the_fix():
    code = (
        "import warnings, jax; jax.numpy.zeros(1).block_until_ready()\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always'); import rnnjax\n"
        "print(len(jax.devices('cpu')), len(w)); print(w[0].message if w else '')"
    )
    count, message = python(code, RNNJAX_HOST_DEVICES="2").splitlines()
    backend_is_cpu = python("import jax; print(jax.default_backend())") == "cpu"
    assert count == ("1 1" if backend_is_cpu else "1 0")
    if backend_is_cpu:
        assert "1 CPU device(s)" in message and "import rnnjax before" in message and "XLA_FLAGS" in message


def test_compilation_cache(tmp_path):
    code = "from rnnjax.scaling import runtime; print(runtime.enable_compilation_cache())"
    assert python(code, RNNJAX_COMPILATION_CACHE="0") == "None"
    assert python(code, RNNJAX_COMPILATION_CACHE=str(tmp_path / "c")) == str(tmp_path / "c")
    assert (tmp_path / "c").is_dir()
