import os
import subprocess
import sys

from rnnjax import runtime

DEVICES = "import rnnjax, jax; print(len(jax.devices()))"


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


def test_jax_imported_first_is_left_alone():
    assert python("import jax, rnnjax; print(len(jax.devices()))") == "1"


def test_compilation_cache(tmp_path):
    code = "from rnnjax import runtime; print(runtime.enable_compilation_cache())"
    assert python(code, RNNJAX_COMPILATION_CACHE="0") == "None"
    assert python(code, RNNJAX_COMPILATION_CACHE=str(tmp_path / "c")) == str(tmp_path / "c")
    assert (tmp_path / "c").is_dir()
