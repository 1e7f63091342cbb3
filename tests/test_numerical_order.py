"""The numerical order test (NumPy/SciPy only): a truncation of order p tracks the iterates
with global error O(h^(p+1)).

For each method and p = 0..3 the explicit field of `modified_flow(opt, p)` on a smooth,
non-convex, non-polynomial 2-D loss is integrated with DOP853 at tight tolerances, the
iterates come from the same `Recurrence` run numerically, and the log-log slope of
max_n |x_n - x(n h)| over a geometric set of h must be p + 1 (DESIGN, "Numerics": an
order-p truncation must show slope p + 1). Momentum methods start on the slow manifold
(`manifold_states` of the order-(p+1) flow), otherwise an O(h) offset hides every higher
order (DESIGN; Kovachki & Stuart, JMLR 2021).

Tolerance on the slope: 0.2. In the asymptotic regime err(h) = C h^(p+1) (1 + O(h)); with
the h chosen here the relative O(h) correction moves the fitted slope by about 0.1 (the
tables in the messages show it), while a wrong coefficient at order k <= p moves it by
at least 1 (see the controls at the end).
"""

import numpy as np
import pytest
import sympy
from scipy.integrate import solve_ivp

from derive import gd, heavy_ball, modified_flow, nesterov
from derive._flow import manifold_states

x, y, h = sympy.symbols("x y h")
LOSS = (x**2 - 1) ** 2 / 4 + y**2 / 2 + x * y / 5 + sympy.sin(x) / 3
X0 = np.array([0.3, -0.7])
T = 1.0
_grad = sympy.lambdify((x, y), [sympy.diff(LOSS, v) for v in (x, y)], "numpy")


def grad(p):
    return np.array(_grad(*p), dtype=float)


OPTIMIZERS = {
    "gd": (gd, [0.08, 0.04, 0.02, 0.01]),
    # effective step h/(1-beta) = 2h: halve the steps to reach the asymptotic regime
    "heavy-ball(1/2)": (lambda: heavy_ball(0.5), [0.04, 0.02, 0.01, 0.005]),
    "nesterov(1/2)": (lambda: nesterov(0.5), [0.04, 0.02, 0.01, 0.005]),
}


def global_errors(opt, p, hs, *, on_manifold=True, scale_top=1.0):
    """max_n |x_n - x(n h)| for each h; `scale_top` multiplies the h^p part of the field
    (a deliberately wrong coefficient, for the controls)."""
    flow = modified_flow(opt, p)
    comps = flow.on(LOSS, [x, y]).components
    if scale_top != 1.0:
        comps = [
            sympy.expand(c) + (scale_top - 1) * sympy.expand(c).coeff(h, p) * h**p
            for c in comps
        ]
    field = sympy.lambdify((x, y, h), comps, "numpy")
    states = flow.recurrence.states
    init = {}
    if len(states) > 1 and on_manifold:
        ms = manifold_states(modified_flow(opt, p + 1), LOSS, [x, y])
        init = {k: sympy.lambdify((x, y, h), v, "numpy") for k, v in ms.items()}
    errors = []
    for hv in hs:
        n_steps = int(round(T / hv))
        state = [X0.copy()]
        for name in states[1:]:
            state.append(
                np.array(init[name](*X0, hv), dtype=float) if init else X0.copy()
            )
        state = tuple(state)
        xs = [state[0]]
        for _ in range(n_steps):
            state = flow.recurrence.run(state, grad, hv)
            xs.append(state[0])
        ts = hv * np.arange(n_steps + 1)
        sol = solve_ivp(
            lambda t, z, hv=hv: np.array(field(z[0], z[1], hv), dtype=float),
            (0.0, ts[-1]),
            X0,
            method="DOP853",
            rtol=1e-13,
            atol=1e-13,
            t_eval=ts,
        )
        assert sol.success, sol.message
        errors.append(float(np.max(np.linalg.norm(np.array(xs) - sol.y.T, axis=1))))
    return errors


def slope_and_table(hs, errors):
    slope = float(np.polyfit(np.log(hs), np.log(errors), 1)[0])
    rows = ["      h        error   local slope"]
    for k, (hv, e) in enumerate(zip(hs, errors, strict=True)):
        local = (
            ""
            if k == 0
            else f"{np.log(errors[k - 1] / e) / np.log(hs[k - 1] / hv):8.3f}"
        )
        rows.append(f"  {hv:7.4f}  {e:11.3e}  {local}")
    return slope, "\n".join(rows) + f"\n  fitted slope {slope:.3f}"


@pytest.mark.parametrize("p", [0, 1, 2, 3])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_observed_order_is_p_plus_one(name, p):
    factory, hs = OPTIMIZERS[name]
    errors = global_errors(factory(), p, hs)
    assert min(errors) > 1e-12, "errors too close to the integration tolerance"
    slope, table = slope_and_table(hs, errors)
    assert abs(slope - (p + 1)) < 0.2, (
        f"{name}, order {p}: expected slope {p + 1}\n{table}"
    )


# --------------------------------------------------------------------------- controls
# The order test must be able to fail: a wrong top coefficient or a start off the
# manifold must show a visibly lower slope.


@pytest.mark.parametrize(("name", "p"), [("gd", 1), ("heavy-ball(1/2)", 2)])
def test_wrong_top_coefficient_is_detected(name, p):
    factory, hs = OPTIMIZERS[name]
    errors = global_errors(factory(), p, hs, scale_top=1.5)
    slope, table = slope_and_table(hs, errors)
    assert slope < p + 0.5, f"a 50% error in the h^{p} term went unnoticed\n{table}"


def test_start_off_the_manifold_shows_order_one():
    """Heavy ball started at x_prev = x0 has an O(h) offset (Kovachki & Stuart 2021):
    the order-2 flow then shows slope about 1, not 3."""
    factory, hs = OPTIMIZERS["heavy-ball(1/2)"]
    errors = global_errors(factory(), 2, hs, on_manifold=False)
    slope, table = slope_and_table(hs, errors)
    assert slope < 1.5, table
