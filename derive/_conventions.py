"""The conventions every output states: one text, used by every rendering."""

from __future__ import annotations

__all__ = ["CONVENTIONS", "ODE_CONVENTIONS"]

CONVENTIONS = (
    "loss f, g = -grad f, step h, time t = n h (x_n ~ x(n h)); the modified flow is "
    "dx/dt = sum_k h^k F_k(x) with each term coefficient * h^power * F(tree), "
    "F([]) = g, F([t1,...,tk]) = g^(k)(F(t1),...,F(tk)) (no hidden symmetry factor); "
    "gradient descent is x+ = x + h g(x)"
)
"""The conventions of a modified flow, as stated in every text and JSON output."""

ODE_CONVENTIONS = (
    "x' = dx/dt, x'' = d^2x/dt^2, x^(k) the k-th time derivative; grad f(x) the "
    "gradient, H(x)[u] = D^2f(x)[u] the Hessian applied to u, D^kf(x)[u, ..., v] the "
    "k-th derivative of f applied to k - 1 vectors; time t = n h (x_n ~ x(n h))"
)
"""The notation of high-resolution equations, stated in their outputs."""
