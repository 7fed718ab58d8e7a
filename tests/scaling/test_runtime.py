import os
import subprocess
import sys

from rnnjax.scaling import runtime

CALL = "from rnnjax.scaling import runtime; runtime.use_all_cores()\n"
DEVICES = CALL + "import jax; print(len(jax.devices('cpu')))"  # before jax: through XLA_FLAGS


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
    jax_first = "import jax\n" + CALL + "print(len(jax.devices('cpu')))"
    assert python(jax_first) == str(runtime.usable_cores())
    assert python(jax_first, RNNJAX_HOST_DEVICES="3") == "3"


def test_asking_again_is_cheap_and_changes_nothing():
    before_jax = CALL + "import os; print(runtime.use_all_cores(), os.environ['XLA_FLAGS'].count('device_count'))"
    assert python(before_jax, RNNJAX_HOST_DEVICES="3") == "None 1"
    # after jax it sets an option and starts no backend (jax.distributed can still start first):
    # a later setting still applies
    after_jax = "import jax\n" + CALL + "runtime.use_all_cores(); jax.config.update('jax_num_cpu_devices', 5)\n"
    assert python(after_jax + "print(len(jax.devices('cpu')))", RNNJAX_HOST_DEVICES="3") == "5"
    # a count the user set is theirs
    user = "import jax; jax.config.update('jax_num_cpu_devices', 5)\n" + CALL + "print(len(jax.devices('cpu')))"
    assert python(user, RNNJAX_HOST_DEVICES="3") == "5"


def test_a_backend_already_running_is_reported_once_with_the_fix():
    code = (
        "import warnings, jax; jax.numpy.zeros(1).block_until_ready()\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always'); from rnnjax.scaling import runtime\n"
        "    for _ in range(3): runtime.use_all_cores()\n"
        "print(len(jax.devices('cpu')), len(w)); print(w[0].message if w else '')"
    )
    count, message = python(code, RNNJAX_HOST_DEVICES="2").splitlines()
    backend_is_cpu = python("import jax; print(jax.default_backend())") == "cpu"
    assert count == ("1 1" if backend_is_cpu else "1 0")
    if backend_is_cpu:
        assert "1 CPU device(s)" in message and "XLA_FLAGS" in message
        assert "use_all_cores() before the first JAX computation" in message


def test_compilation_cache(tmp_path):
    code = "from rnnjax.scaling import runtime; print(runtime.enable_compilation_cache())"
    assert python(code, RNNJAX_COMPILATION_CACHE="0") == "None"
    assert python(code, RNNJAX_COMPILATION_CACHE=str(tmp_path / "c")) == str(tmp_path / "c")
    assert (tmp_path / "c").is_dir()


def test_64_bit_mode_is_refused_from_python_too():
    code = (
        "import jax; jax.config.update('jax_enable_x64', True)\n"
        "import rnnjax as rj\n"
        "try:\n    rj.run(rj.Config(seeds=1, epochs=1, hidden=2))\n"
        "except rj.ConfigError as err:\n    print(err)\n"
    )
    out = python(code)
    assert "is not allowed: rnnjax trains in float32" in out
