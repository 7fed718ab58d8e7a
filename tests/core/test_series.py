"""Series beyond the notebook: integrated benchmarks against independent integrations,
recorded data (files, arrays), observation noise and scaling."""

import hashlib
import sys
import types

import numpy as np
import pytest
import reference
from scipy.integrate import solve_ivp

from rnnjax.core import data, series
from rnnjax.core.config import Config, ConfigError
from rnnjax.core.series import integrated


def test_mackey_glass_matches_the_method_of_steps():
    cfg = Config(series="mackey_glass", n_points=300)
    assert series.spacing(cfg) == 1.0 and series.normalization(cfg) == "standard"
    want = reference.mackey_glass_method_of_steps(series.grid(cfg) + integrated.MG_WASHOUT)
    got = data.series(cfg)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)  # measured 4e-8
    assert 0.3 < got.min() and got.max() < 1.4 and got.std() > 0.15  # chaotic, not decayed


def test_lorenz_matches_scipy_dop853():
    cfg = Config(series="lorenz", n_points=400)

    def rhs(t, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    t = series.grid(cfg)
    ref = solve_ivp(rhs, (0, t[-1]), integrated.LORENZ_START, method="DOP853", rtol=1e-13, atol=1e-12, t_eval=t)
    np.testing.assert_allclose(data.series(cfg), ref.y[0], rtol=0, atol=1e-4)  # 8 time units; measured 5e-6


def test_spacing_resamples_the_same_trajectory():
    fine = data.series(Config(series="lorenz", n_points=200))
    coarse = data.series(Config(series="lorenz", n_points=100, spacing=0.04))
    np.testing.assert_allclose(coarse, fine[::2], atol=1e-9)
    later = data.series(Config(series="mackey_glass", n_points=50, x_start=10.0))
    np.testing.assert_allclose(later, data.series(Config(series="mackey_glass", n_points=60))[10:], atol=1e-9)


@pytest.fixture
def csv_file(tmp_path):
    y = 3.0 + np.sin(np.arange(80) / 4.0)
    path = tmp_path / "s.csv"
    path.write_text("t,y,label\n" + "".join(f"{i},{float(v)!r},a{i}\n" for i, v in enumerate(y)))
    return path, y


def test_a_csv_column_by_name_index_or_alone(csv_file, tmp_path):
    path, y = csv_file
    cfg = Config(data=str(path), column="y", horizon=40)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert cfg.length == 80 and cfg.n_points is None and series.source(cfg).sha256 == sha256
    assert cfg.data_sha256 == ""  # the config holds what was asked for; the file's checksum is the source's
    np.testing.assert_array_equal(data.series(cfg), y)
    assert Config(data=str(path), column="1", horizon=40, data_sha256=sha256).length == 80
    only = tmp_path / "only.csv"
    only.write_text("".join(f"{float(v)!r}\n" for v in y))  # no header, one column
    np.testing.assert_array_equal(data.series(Config(data=str(only), horizon=40)), y)
    with pytest.raises(ConfigError, match="2 numeric columns: .*'t', 'y', 'label'"):
        Config(data=str(path), horizon=40)


def test_an_npy_file_and_an_array_are_the_same_series(tmp_path, csv_file):
    _, y = csv_file
    np.save(tmp_path / "s.npy", y)
    from_file, from_array = Config(data=str(tmp_path / "s.npy"), horizon=40), Config(data=y, horizon=40)
    np.testing.assert_array_equal(data.split(from_file).x_train, data.split(from_array).x_train)
    assert from_array.as_dict()["data"].startswith("<array sha256:")
    y[0] = 99.0  # the config holds its own copy
    assert data.series(from_array)[0] != 99.0


def test_changed_data_is_refused(csv_file):
    path, _ = csv_file
    before = series.source(Config(data=str(path), column="y", horizon=40)).sha256
    path.write_text(path.read_text().replace("\n0,", "\n0.5,", 1))  # the t column: still a change
    with pytest.raises(ConfigError, match="has changed"):
        Config(data=str(path), column="y", horizon=40, data_sha256=before)
    assert series.source(Config(data=str(path), column="y", horizon=40)).sha256 != before


def test_standard_scaling_uses_the_training_windows_only(csv_file):
    path, y = csv_file
    cfg = Config(data=str(path), column="y", horizon=40, window=10, protocol="notebook")
    seen = y[: cfg.n_train + cfg.window]
    s = data.scale(cfg)
    assert s == (pytest.approx(seen.mean()), pytest.approx(seen.std()))
    w = data.split(cfg)
    np.testing.assert_allclose(w.x_train[:, 0, 0], (y[: cfg.n_train] - s.mean) / s.sd, rtol=1e-6)
    np.testing.assert_allclose(w.y_val[-1, -1, 0], (y[-1] - s.mean) / s.sd, rtol=1e-6)  # validation: same scale
    assert data.scale(cfg.replace(normalize="none")) is None
    assert data.scale(Config()) is None  # the notebook's series: raw, as it trained


def test_noise_is_fixed_by_its_seed_and_the_truth_stays_clean():
    cfg = Config(noise=0.1)
    seen = data.observed(cfg)
    np.testing.assert_array_equal(seen, data.observed(cfg.replace(cell="lstm", seed=7)))  # every model and seed
    np.testing.assert_array_equal(data.observed(cfg, 300)[:200], seen)  # value i's noise does not depend on n
    assert 0.08 < np.std(seen - data.series(cfg)) < 0.12
    assert not np.array_equal(data.observed(cfg.replace(noise_seed=1)), seen)
    context, truth = data.forecast_truth(cfg)
    clean_context, clean_truth = data.forecast_truth(Config())
    np.testing.assert_array_equal(truth, clean_truth)
    np.testing.assert_array_equal(context, seen[1 : cfg.window + 1])
    assert not np.array_equal(context, clean_context)


def test_sunspots_come_from_statsmodels_an_optional_extra(monkeypatch):
    from rnnjax.core.series import recorded

    recorded.sunspots.cache_clear()
    monkeypatch.setitem(sys.modules, "statsmodels", None)  # not installed
    with pytest.raises(ConfigError, match=r"needs statsmodels.*\[datasets\]"):
        Config(series="sunspots")
    values = np.abs(np.sin(np.arange(309) / 10.0)) * 200
    table = types.SimpleNamespace(data={"SUNACTIVITY": types.SimpleNamespace(to_numpy=lambda dtype: values)})
    fake = types.ModuleType("statsmodels.datasets")
    fake.sunspots = types.SimpleNamespace(load=lambda: table)
    monkeypatch.setitem(sys.modules, "statsmodels", types.ModuleType("statsmodels"))
    monkeypatch.setitem(sys.modules, "statsmodels.datasets", fake)
    recorded.sunspots.cache_clear()
    cfg = Config(series="sunspots")
    assert cfg.length == 309 and series.normalization(cfg) == "standard"
    np.testing.assert_array_equal(data.series(cfg), values)
    recorded.sunspots.cache_clear()


def test_a_path_object_and_any_file_name_work(tmp_path):
    y = np.sin(np.arange(60) / 3.0)
    odd = tmp_path / "v\udcffname.npy"  # not UTF-8: figures and reports still print it
    np.save(odd, y)
    cfg = Config(data=odd, horizon=10)
    assert cfg.data == str(odd) and cfg.length == 60
    assert series.describe(cfg) == "v\ufffdname.npy"


def test_float32_bounds_are_refused_before_training(tmp_path):
    with pytest.raises(ConfigError, match="noise=1e\\+20 reaches"):
        Config(noise=1e20)
    with pytest.raises(ConfigError, match="too little for float32"):
        Config(data=1.0 + 1e-9 * np.sin(np.arange(80)), horizon=30)
    with pytest.raises(ConfigError, match="integration steps"):
        Config(series="mackey_glass", spacing=1e6)


def test_off_grid_spacings_interpolate_the_integration():
    """Samples between integration steps (cubic Hermite) against DOP853's dense output."""
    cfg = Config(series="lorenz", n_points=300, spacing=0.0137, x_start=0.0031)

    def rhs(t, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    t = series.grid(cfg)
    ref = solve_ivp(rhs, (0, t[-1]), integrated.LORENZ_START, method="DOP853", rtol=1e-13, atol=1e-12, t_eval=t)
    np.testing.assert_allclose(data.series(cfg), ref.y[0], rtol=0, atol=1e-5)
    mg = Config(series="mackey_glass", n_points=100, spacing=0.73, x_start=0.05)
    want = reference.mackey_glass_method_of_steps(series.grid(mg) + integrated.MG_WASHOUT)
    np.testing.assert_allclose(data.series(mg), want, rtol=0, atol=1e-6)


def test_another_series_gets_its_own_length():
    """n_points is what was asked for (None: the series' own length); nothing is reset or
    filled in behind the user's back."""
    y = np.sin(np.arange(300) / 5.0)
    cfg = Config(data=y)
    assert cfg.length == 300 and cfg.replace(lr=0.1).length == 300 and cfg.n_points is None
    assert cfg.replace(data="").length == 200 and cfg.replace(data="").data_sha256 == ""
    with pytest.raises(ConfigError, match="n_points=200 is not allowed"):  # 200 is no longer "not given"
        Config(data=y, n_points=200)
    assert Config(data=y, n_points=300).length == 300
    with pytest.raises(ConfigError, match="has changed"):  # a checksum given stays asked for
        Config(data=y, data_sha256=series.source(cfg).sha256).replace(data=2 * y)
    with pytest.raises(ConfigError, match="series='lorenz' is not allowed"):
        Config(data=y, series="lorenz")
    with pytest.raises(ConfigError, match="n_points=50 is not allowed"):
        Config(data=y, n_points=50)


def test_lorenz_channels_are_its_state_matching_scipy_dop853():
    cfg = Config(series="lorenz", n_points=400, channels="x,y,z")

    def rhs(t, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    t = series.grid(cfg)
    ref = solve_ivp(rhs, (0, t[-1]), integrated.LORENZ_START, method="DOP853", rtol=1e-13, atol=1e-12, t_eval=t)
    got = data.series(cfg)
    assert got.shape == (400, 3) and series.channels(cfg) == ("x", "y", "z")
    np.testing.assert_allclose(got, ref.y.T, rtol=0, atol=1e-4)
    # one channel is the univariate series, bit for bit; a subset keeps the order asked for
    np.testing.assert_array_equal(data.series(cfg.replace(channels="x")), data.series(cfg.replace(channels="")))
    np.testing.assert_array_equal(data.series(cfg.replace(channels="z,x")), got[:, [2, 0]])


def test_several_csv_columns_an_npy_matrix_and_an_array_are_channels(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal((60, 2)) + [5.0, -3.0]
    (tmp_path / "m.csv").write_text(
        "t,a,b\n" + "".join(f"{i},{float(a)!r},{float(b)!r}\n" for i, (a, b) in enumerate(values))
    )
    np.save(tmp_path / "m.npy", values)
    from_csv = Config(data=str(tmp_path / "m.csv"), columns="b,a")
    np.testing.assert_array_equal(data.series(from_csv), values[:, [1, 0]])
    assert series.channels(from_csv) == ("b", "a") and series.targets(from_csv) == (0, 1)
    from_npy = Config(data=str(tmp_path / "m.npy"), targets="1")
    np.testing.assert_array_equal(data.series(from_npy), values)
    assert series.channels(from_npy) == ("0", "1") and series.targets(from_npy) == (1,)
    np.testing.assert_array_equal(data.series(Config(data=values)), values)
    # [T, 1] is the univariate series
    np.testing.assert_array_equal(data.series(Config(data=values[:, :1])), values[:, 0])
    assert Config(data=values[:, :1]).data == Config(data=values[:, 0]).data


@pytest.mark.parametrize(
    "text, columns, named",
    [
        ("a,b\n1,2\n3,4\n5,nan\n6,7\n", "a,b", "has nan at row 4, column 'b'"),
        ("a,b\n1,2\n3,\n5,6\n6,7\n", "a,b", "column 'b' has '' at row 3"),
        ("a,b\n1,2\n3,4\n5,6\n", "a,c", "columns='c' is not in"),
        ("a,b\n1,2\n3,4\n5,6\n", "a,a", "names 'a' twice"),
        ("a,b\n1,2\n3,4\n5,6\n", "a,,b", "none empty"),
        ("a,b\n1,2\n3,4\n5,6\n", "a,0", "names a column of"),
    ],
)
def test_bad_columns_are_refused_naming_row_and_column(tmp_path, text, columns, named):
    (tmp_path / "d.csv").write_text(text)
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        Config(data=str(tmp_path / "d.csv"), columns=columns, window=1, val_fraction=0.5, horizon=1)


def test_each_channel_is_scaled_by_its_own_training_statistics():
    cfg = Config(series="lorenz", channels="x,z", targets="z")
    seen = data.observed(cfg)[: cfg.n_train + cfg.window]
    scale = data.scale(cfg)
    np.testing.assert_allclose(scale.mean, seen.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scale.sd, seen.std(axis=0), rtol=1e-12)
    w = data.split(cfg)
    assert w.x_train.shape == (cfg.n_train, cfg.window, 2) and w.y_train.shape == (cfg.n_train, cfg.window, 1)
    scaled = (data.observed(cfg) - scale.mean) / scale.sd
    np.testing.assert_allclose(w.x_train[3], scaled[3 : 3 + cfg.window], rtol=1e-6)
    np.testing.assert_allclose(w.y_train[3, :, 0], scaled[4 : 4 + cfg.window, 1], rtol=1e-6)
    context, truth = data.forecast_truth(cfg)
    assert context.shape == (cfg.window, 2) and truth.shape == (cfg.steps, 1)
    np.testing.assert_array_equal(data.known(cfg), data.observed(cfg, cfg.origin + cfg.steps)[cfg.origin :])


def test_one_column_given_as_columns_is_the_univariate_series(csv_file):
    path, y = csv_file
    cfg = Config(data=str(path), columns="y")
    np.testing.assert_array_equal(data.series(cfg), y)
    assert data.series(cfg).ndim == 1 and series.channels(cfg) == ("y",)
    assert Config(data=str(path), column="y").data_sha256 == cfg.data_sha256 == ""


VALUES = [0.5, 1.5, -2.0, 3.25, 4.0]
READS = "".join(f"{i},{v}\n" for i, v in enumerate(VALUES))


def _body(rows=VALUES):
    return "".join(f"{v}\n" for v in rows)


# crafted files: (name, text, column, what happens: the values read exactly, or a refusal naming the place)
CRAFTED = [
    ("header", "y\n" + _body(), "", VALUES),
    ("no header", _body(), "", VALUES),
    ("crlf", ("y\n" + _body()).replace("\n", "\r\n"), "", VALUES),
    ("bom", "\ufeffy\n" + _body(), "", VALUES),
    ("spaces around numbers", "y\n" + "".join(f" {v} \n" for v in VALUES), "", VALUES),
    ("trailing blank lines", "y\n" + _body() + "\n\n", "", VALUES),
    ("index and value by name", "t,y\n" + READS, "y", VALUES),
    ("value by index", "t,y\n" + READS, "1", VALUES),
    ("scientific", "y\n1e-3\n2.5E2\n-.5\n+4\n5.\n", "", [1e-3, 250.0, -0.5, 4.0, 5.0]),
    ("blank row inside", "y\n0.5\n1.5\n\n-2.0\n3.25\n", "", "blank row at line 4: a gap"),
    ("blank row of commas", "t,y\n0,0.5\n1,1.5\n,\n2,-2.0\n3,3.25\n", "y", "blank row at line 4"),
    ("blank row before the header", "\ny\n" + _body(), "", "blank row at line 1"),
    ("empty value", "t,y\n0,0.5\n1,\n2,-2.0\n3,3.25\n", "y", "column 'y' has '' at row 3"),
    ("bad token, no column given", "year,y\n1700,0.5\n1701,1.5\n1702,x\n1703,3.25\n", "", "2 numeric columns"),
    ("bad token in the value column", "year,y\n1700,0.5\n1701,1.5\n1702,x\n1703,3.25\n", "y", "has 'x' at row 4"),
    ("underscore digits", "y\n1_000\n2\n3\n4\n", "", "has '1_000' at row 2"),
    ("non-ASCII digits", "y\n\u0661\u0662\n2\n3\n4\n", "", "at row 2: every value must be a number"),
    ("numeric-looking header", "1_000\n0.5\n1.5\n-2.0\n3.25\n", "", [0.5, 1.5, -2.0, 3.25]),
    ("nan", "y\n0.5\nnan\n-2.0\n3.25\n", "", "has nan at row 3"),
    ("inf", "y\n0.5\n-inf\n-2.0\n3.25\n", "", "has -inf at row 3"),
    ("ragged", "t,y\n0,0.5\n1\n2,-2.0\n3,3.25\n", "y", "row 3 has 1 fields, not 2"),
    ("thousands separator", 'y\n"1,000"\n2\n3\n4\n', "", "has '1,000' at row 2"),
    ("comma decimal", 'y\n"0,5"\n2\n3\n4\n', "", "has '0,5' at row 2"),
    ("a text column, no header", "".join(f"{v},note{i}\n" for i, v in enumerate(VALUES)), "", VALUES),
    ("a text column and a header", "y,note\n" + "".join(f"{v},n{i}\n" for i, v in enumerate(VALUES)), "", VALUES),
    ("dates, no header", "".join(f"2020-01-0{i + 1},{v}\n" for i, v in enumerate(VALUES)), "", VALUES),
    ("dates and a header", "day,y\n" + "".join(f"2020-01-0{i + 1},{v}\n" for i, v in enumerate(VALUES)), "y", VALUES),
    ("a text column only", "note\nabc\ndef\nghi\n", "", "has 'note' at row 1: every value must be a number"),
    ("only a header", "y\n", "", "has a header but no values"),
    ("only blank lines", "\n\n\n", "", "is empty: no rows"),
]


@pytest.mark.parametrize("text, column, expect", [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_a_data_file_is_read_exactly_or_refused_naming_the_place(tmp_path, text, column, expect):
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode("utf-8"))
    if isinstance(expect, str):
        with pytest.raises(ConfigError) as err:
            series.recorded.load(str(path), column)
        assert expect in str(err.value) and "\n" not in str(err.value)
    else:
        np.testing.assert_array_equal(series.recorded.load(str(path), column).values, expect)


def test_the_column_chosen_for_the_user_is_recorded(tmp_path):
    from rnnjax.study import cli

    path = tmp_path / "d.csv"
    path.write_text("date,y\n" + "".join(f"2020-01-{i:02d},{np.sin(i / 3)}\n" for i in range(1, 61)))
    args = cli.Parser()
    cli.add_config_flags(args)
    cfg = cli.config_from_args(args.parse_args(["--data", str(path)]))
    assert cfg.column == "y" and cfg.data_sha256
