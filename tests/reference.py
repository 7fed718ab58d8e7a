"""Hand-written NumPy equations of the Keras cells, independent of rnnjax."""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gru_step(h, x, W, U, b, drop=None):
    """Keras GRU, reset_after=True, gate order z, r, h; b = [input bias, recurrent bias].
    `drop`: Keras's recurrent dropout mask, on h in h U only (z h carries the whole h over)."""
    H = h.shape[-1]
    xw = x @ W + b[0]
    hu = (h if drop is None else h * drop) @ U + b[1]
    z = sigmoid(xw[:H] + hu[:H])
    r = sigmoid(xw[H : 2 * H] + hu[H : 2 * H])
    cand = np.tanh(xw[2 * H :] + r * hu[2 * H :])
    return z * h + (1 - z) * cand


def lstm_step(c, h, x, W, U, b):
    """Keras LSTM, gate order i, f, c, o."""
    H = h.shape[-1]
    a = x @ W + h @ U + b
    i, f, g, o = sigmoid(a[:H]), sigmoid(a[H : 2 * H]), np.tanh(a[2 * H : 3 * H]), sigmoid(a[3 * H :])
    c = f * c + i * g
    return c, o * np.tanh(c)


def rnn_step(h, x, W, U, b):
    """Keras SimpleRNN."""
    return np.tanh(x @ W + h @ U + b)


def run_sequence(step, carry, xs):
    """Apply `step(carry, x) -> carry` over time; returns the hidden state at every step."""
    hs = []
    for x in xs:
        carry = step(carry, x)
        hs.append(carry[-1] if isinstance(carry, tuple) else carry)
    return np.stack(hs)


def mingru_step(h, x, W, b):
    """minGRU (Feng et al. 2024): z = σ(Linear_z x), h̃ = Linear_h x, h' = (1 − z) h + z h̃."""
    H = h.shape[-1]
    a = x @ W + b
    z, cand = sigmoid(a[:H]), a[H:]
    return (1 - z) * h + z * cand


def minlstm_step(h, x, W, b):
    """minLSTM: f, i = σ(Linear x), h̃ = Linear x, f' = f/(f+i), i' = i/(f+i), h' = f' h + i' h̃."""
    H = h.shape[-1]
    a = x @ W + b
    f, i, cand = sigmoid(a[:H]), sigmoid(a[H : 2 * H]), a[2 * H :]
    return f / (f + i) * h + i / (f + i) * cand


def lru_step(x_state, u, p):
    """LRU (Orvieto et al. 2023): x' = Λ x + γ ⊙ (B u), y = Re(C x') + D u; Λ = exp(−e^ν + i e^θ).
    Returns (x', y)."""
    lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
    B = p["B_re"] + 1j * p["B_im"]
    C = p["C_re"] + 1j * p["C_im"]
    x_new = lam * x_state + np.exp(p["gamma_log"]) * (B @ u)
    return x_new, (C @ x_new).real + p["D"] @ u


def mackey_glass_method_of_steps(times, beta=0.2, gamma=0.1, n=10, delay=17.0, history=1.2):
    """Mackey-Glass by the method of steps: on each interval [k delay, (k+1) delay] the
    delayed term is known (the history, or the previous interval's dense output), so the
    DDE is an ODE there, integrated by scipy's DOP853 at tight tolerances."""
    from scipy.integrate import solve_ivp

    segments = []

    def lagged(t):
        s = t - delay
        if s <= 0:
            return history
        return segments[min(int(s // delay), len(segments) - 1)].sol(s)[0]

    x0, k = history, 0
    while k * delay < max(times):
        sol = solve_ivp(
            lambda t, x: [beta * lagged(t) / (1 + lagged(t) ** n) - gamma * x[0]],
            (k * delay, (k + 1) * delay),
            [x0],
            method="DOP853",
            rtol=1e-12,
            atol=1e-12,
            dense_output=True,
        )
        segments.append(sol)
        x0, k = sol.y[0, -1], k + 1
    return np.array([segments[min(int(t // delay), len(segments) - 1)].sol(t)[0] for t in times])


def zero_state(cell: str, hidden: int):
    return (np.zeros(hidden), np.zeros(hidden)) if cell == "lstm" else np.zeros(hidden)


def step(cell: str, p: dict, state, x, drop=None):
    """One step of `cell` ("gru", "lstm", "rnn", "mingru", "minlstm") with its Keras-layout
    weights `p` (kernel, recurrent_kernel, bias): (state, h). `drop`: Keras's recurrent
    dropout mask, on h where it meets the recurrent kernel (gru, lstm, rnn)."""
    W, b = p["kernel"], p["bias"]
    if cell == "gru":
        h = gru_step(state, x, W, p["recurrent_kernel"], b, drop)
        return h, h
    if cell == "lstm":  # h enters only h U: its mask is the step's of h * mask
        c, h = state
        c, h = lstm_step(c, h if drop is None else h * drop, x, W, p["recurrent_kernel"], b)
        return (c, h), h
    if cell == "rnn":
        h = rnn_step(state if drop is None else state * drop, x, W, p["recurrent_kernel"], b)
        return h, h
    h = {"mingru": mingru_step, "minlstm": minlstm_step}[cell](state, x, W, b)
    return h, h
