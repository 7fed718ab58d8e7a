"""Dynamical systems integrated deterministically: the standard chaotic benchmarks.

Each is integrated once with classical fourth-order Runge-Kutta at a fixed internal step
(independent of the sample spacing, so a coarser or finer grid samples the same
trajectory) and sampled at any times x >= 0 by cubic Hermite interpolation of the steps'
values and derivatives (error O(step^4), like the integration's).
"""

import functools
import math

import numpy as np

# trajectories are cached per length, in blocks of this many steps, so the calls of a run
# (its windows, its forecast's truth) integrate once
_BLOCK = 4096


def _hermite(t_N: np.ndarray, step: float, x_S: np.ndarray, f_S: np.ndarray) -> np.ndarray:
    """Values at times t_N of the trajectory whose step-k value and derivative are x_S[k], f_S[k]."""
    k = np.minimum(np.floor(t_N / step).astype(np.int64), len(x_S) - 2)
    s = t_N / step - k  # position inside the step, in [0, 1]
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * x_S[k] + h10 * step * f_S[k] + h01 * x_S[k + 1] + h11 * step * f_S[k + 1]


def _steps_for(t_max: float, step: float) -> int:
    return _BLOCK * (math.floor(t_max / step / _BLOCK) + 1)


# Mackey-Glass: dx/dt = beta x(t - delay) / (1 + x(t - delay)^n) - gamma x(t)
MG_BETA, MG_GAMMA, MG_N, MG_DELAY = 0.2, 0.1, 10, 17.0
MG_HISTORY = 1.2  # x(t) for t <= 0
MG_STEP = 0.1  # delay / 170: the delayed times of a step's stages are grid points or midpoints
MG_WASHOUT = 500.0  # time units integrated before x = 0, past the start's transient


def _mg_rhs(x: float, lagged: float) -> float:
    return MG_BETA * lagged / (1.0 + lagged**MG_N) - MG_GAMMA * x


@functools.lru_cache(maxsize=4)
def _mackey_glass_steps(n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, dx/dt) at t = k * MG_STEP, k = 0..n_steps, from the constant history."""
    h, lag = MG_STEP, round(MG_DELAY / MG_STEP)  # the delay is exactly 170 steps
    xs, fs = [MG_HISTORY], []

    def at(j: int) -> float:  # x(j h): the history before t = 0
        return MG_HISTORY if j < 0 else xs[j]

    def midpoint(j: int) -> float:  # x((j + 1/2) h), Hermite's formula on the step's ends
        if j < 0:
            return MG_HISTORY
        return 0.5 * (xs[j] + xs[j + 1]) + h / 8.0 * (fs[j] - fs[j + 1])

    for k in range(n_steps):
        x, j = xs[k], k - lag
        k1 = _mg_rhs(x, at(j))
        fs.append(k1)
        k2 = _mg_rhs(x + 0.5 * h * k1, midpoint(j))
        k3 = _mg_rhs(x + 0.5 * h * k2, midpoint(j))
        k4 = _mg_rhs(x + h * k3, at(j + 1))
        xs.append(x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4))
    fs.append(_mg_rhs(xs[n_steps], at(n_steps - lag)))
    return np.asarray(xs), np.asarray(fs)


def mackey_glass(x: np.ndarray) -> np.ndarray:
    """The Mackey-Glass delay equation dx/dt = 0.2 x(t-17) / (1 + x(t-17)^10) - 0.1 x(t),
    from x = 1.2 for t <= 0, at times x after a washout of 500.
    RK4 with step 0.1 (the delay is 170 steps; the stages' delayed midpoints by cubic
    Hermite interpolation), checked against a method-of-steps DOP853 integration."""
    t = np.asarray(x, np.float64) + MG_WASHOUT
    xs, fs = _mackey_glass_steps(_steps_for(float(t.max()), MG_STEP))
    return _hermite(t, MG_STEP, xs, fs)


# Lorenz-63: dx/dt = sigma (y - x), dy/dt = x (rho - z) - y, dz/dt = x y - beta z
LORENZ_SIGMA, LORENZ_RHO, LORENZ_BETA = 10.0, 28.0, 8.0 / 3.0
LORENZ_START = (7.3931, 2.0497, 31.7595)  # on the attractor: (1, 1, 1) after 30 time units, rounded
LORENZ_STEP = 0.001


def _lorenz_rhs(x: float, y: float, z: float) -> tuple[float, float, float]:
    return LORENZ_SIGMA * (y - x), x * (LORENZ_RHO - z) - y, x * y - LORENZ_BETA * z


@functools.lru_cache(maxsize=4)
def _lorenz_steps(n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(state, d state/dt) at t = k * LORENZ_STEP, k = 0..n_steps: [n_steps + 1, 3] each (x, y, z)."""
    h = LORENZ_STEP
    state = LORENZ_START
    xs, fs = [], []
    for _ in range(n_steps + 1):
        d1 = _lorenz_rhs(*state)
        xs.append(state)
        fs.append(d1)
        d2 = _lorenz_rhs(*(s + 0.5 * h * d for s, d in zip(state, d1, strict=True)))
        d3 = _lorenz_rhs(*(s + 0.5 * h * d for s, d in zip(state, d2, strict=True)))
        d4 = _lorenz_rhs(*(s + h * d for s, d in zip(state, d3, strict=True)))
        state = tuple(
            s + h / 6.0 * (a + 2.0 * b + 2.0 * c + e) for s, a, b, c, e in zip(state, d1, d2, d3, d4, strict=True)
        )
    return np.asarray(xs), np.asarray(fs)


LORENZ_CHANNELS = ("x", "y", "z")


def lorenz_components(x: np.ndarray) -> np.ndarray:
    """Lorenz-63's state (x, y, z) at times x: [n, 3], each component interpolated as `lorenz`'s x."""
    t = np.asarray(x, np.float64)
    xs, fs = _lorenz_steps(_steps_for(float(t.max()), LORENZ_STEP))
    return np.stack([_hermite(t, LORENZ_STEP, xs[:, c], fs[:, c]) for c in range(3)], axis=-1)


def lorenz(x: np.ndarray) -> np.ndarray:
    """The x component of Lorenz-63 (sigma 10, rho 28, beta 8/3) at times x, from a point
    on the attractor. RK4 with step 0.001, checked against
    scipy's DOP853 at tight tolerances."""
    t = np.asarray(x, np.float64)
    xs, fs = _lorenz_steps(_steps_for(float(t.max()), LORENZ_STEP))
    return _hermite(t, LORENZ_STEP, xs[:, 0], fs[:, 0])
