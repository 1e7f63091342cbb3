"""A learning-rate warm start (large, then small) against small throughout, on a
small digits network: full-batch GD, equal training time $t = \\sum h$.

Mohtashami, Jaggi & Stich (ICML 2023) observe on neural networks that a large
learning rate in the first phase of training leads somewhere a small one does not.
Here both schedules run on the same tanh MLP from the same start for the same time
$T = \\sum_k h_k$; what is measured is where they end: training loss, test accuracy
on the held-out digits, and the sharpness $\\lambda_{\\max}$ (after the large phase,
where linear stability caps it near $2/h_{\\mathrm{large}}$, and at the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._models import _data_loss, _dense_init, _mlp_apply
from .._typing import Array, PyTree

__all__ = ["WarmStartRun", "warm_start_experiment", "NETWORK"]

NETWORK: dict[str, Any] = {
    "hidden": 64,
    "n_train": 512,
    "data_loss": "mse",
    "activation": "tanh",
    "small": 0.05,
    "large": (0.1, 0.15),
    "T": 600.0,
    "T_large": 200.0,
    "seeds": (0, 1, 2),
}
"""64 -> 64 -> 10 tanh MLP (4,810 parameters) on the first 512 digits under the
squared loss, tested on the other 1,285; small step 0.05 for T = 600 (12,000 steps)
against a large step for t <= 200 followed by 0.05."""
QUICK_NETWORK: dict[str, Any] = {
    **NETWORK,
    "large": (0.15,),
    "T": 300.0,
    "T_large": 100.0,
    "seeds": (0,),
}


@dataclass
class WarmStartRun:
    """One schedule on one seed: `large` is `None` for small throughout.

    `final_loss`, `train_accuracy`, `test_accuracy`, `final_sharpness`;
    `sharpness_after_large` (the sharpness when the large phase ends) and
    `loss_after_large`; `diverged`: the large phase diverged (a category of its
    own: no final values)."""

    seed: int
    large: float | None
    small: float
    final_loss: float
    train_accuracy: float
    test_accuracy: float
    final_sharpness: float
    sharpness_after_large: float | None
    loss_after_large: float | None
    diverged: bool = False

    @property
    def label(self) -> str:
        return (
            "small throughout"
            if self.large is None
            else f"warm start h = {self.large:g}"
        )

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()} | {"label": self.label}


def _finite(v: Array) -> float:
    x = float(v)
    return x if np.isfinite(x) else float("nan")


def warm_start_experiment(
    settings: dict[str, Any] = NETWORK,
) -> list[WarmStartRun]:
    """Run every schedule of `settings` on every seed (see the module docs)."""
    from .._spectrum import sharpness
    from ..networks import digits

    X, Y = digits(None)
    n = int(settings["n_train"])
    Xtr, Ytr, Xte, Yte = X[:n], Y[:n], X[n:], Y[n:]
    sizes = (64, int(settings["hidden"]), 10)
    act = {"tanh": jnp.tanh, "relu": jax.nn.relu}[settings["activation"]]
    dl = _data_loss(settings["data_loss"])

    def loss(p: PyTree) -> Array:
        return dl(_mlp_apply(p, Xtr, act, 2), Ytr)

    def accuracy(p: PyTree, X: Array, Y: Array) -> float:
        out = _mlp_apply(p, X, act, 2)
        return float(jnp.mean(jnp.argmax(out, -1) == jnp.argmax(Y, -1)))

    grad = jax.grad(loss)

    def runner(steps: int) -> Any:
        def run(p: PyTree, h: Array) -> PyTree:
            def step(p: PyTree, _: None) -> tuple[PyTree, None]:
                return jax.tree_util.tree_map(lambda a, b: a - h * b, p, grad(p)), None

            return jax.lax.scan(step, p, None, length=steps)[0]

        return jax.jit(run)

    small = float(settings["small"])
    T, T1 = float(settings["T"]), float(settings["T_large"])
    out = []
    for seed in settings["seeds"]:
        p0 = _dense_init(jax.random.PRNGKey(int(seed)), sizes)
        for large in (None, *settings["large"]):
            if large is None:
                p = runner(int(round(T / small)))(p0, small)
                s1 = l1 = None
            else:
                p = runner(int(round(T1 / large)))(p0, float(large))
                l1 = _finite(loss(p))
                if not np.isfinite(l1) or l1 > 1e6:
                    nan = float("nan")
                    out.append(
                        WarmStartRun(
                            seed=int(seed),
                            large=float(large),
                            small=small,
                            final_loss=nan,
                            train_accuracy=nan,
                            test_accuracy=nan,
                            final_sharpness=nan,
                            sharpness_after_large=None,
                            loss_after_large=None,
                            diverged=True,
                        )
                    )
                    continue
                s1 = sharpness(loss, p, tol=1e-6, require="none")
                p = runner(int(round((T - T1) / small)))(p, small)
            final = _finite(loss(p))
            out.append(
                WarmStartRun(
                    seed=int(seed),
                    large=None if large is None else float(large),
                    small=small,
                    final_loss=final,
                    train_accuracy=accuracy(p, Xtr, Ytr),
                    test_accuracy=accuracy(p, Xte, Yte),
                    final_sharpness=sharpness(loss, p, tol=1e-6, require="none"),
                    sharpness_after_large=s1,
                    loss_after_large=l1,
                )
            )
    return out
