"""Built-in adaptive optimizers: RMSProp, Adam, AdamW and NAdam.

Each is a plain update function (traced by `derive`, run on arrays by `numerics`, with
the array namespace `xp`) and a lower-case factory in the optax manner. Conventions are
PyTorch's and optax's: with $\\nabla f$ the gradient (so $\\nabla f = -g$),

$$m^+ = \\beta_1 m + (1 - \\beta_1) \\nabla f(x), \\quad
v^+ = \\beta_2 v + (1 - \\beta_2) \\nabla f(x) \\odot \\nabla f(x), \\quad
x^+ = x - h\\, \\frac{m^+}{\\sqrt{v^+} + \\varepsilon},$$

the step using the updated moments, $\\varepsilon$ outside the square root. With
`eps_inside_sqrt=True` the denominator is $\\sqrt{v^+ + \\varepsilon}$, the convention
of Cattaneo, Klusowski & Shigida (ICML 2024). AdamW adds decoupled weight decay,
$x^+ = x - h (m^+/(\\sqrt{v^+} + \\varepsilon) + \\lambda x)$ (PyTorch's
`param *= 1 - lr*wd` before the Adam step); NAdam steps along
$\\beta_1 m^+ + (1 - \\beta_1)\\nabla f(x)$ (Dozat; optax's `nadam` without bias
correction, PyTorch's `NAdam` once its momentum schedule has settled at $\\beta_1$).

Bias correction ($m/(1 - \\beta_1^n)$, $v/(1 - \\beta_2^n)$) is left out: with constant
hyper-parameters it is a transient that decays like $\\beta^n$, as the momentum's
transient does; the flows hold for iterates started on the slow manifold (where the
moments are $m \\approx \\nabla f$, $v \\approx \\nabla f \\odot \\nabla f$), which
is where bias-corrected iterates end up after $O(1/(1-\\beta))$ steps.

Hyper-parameters left as `None` stay symbols; `optimizer_defaults(name)` gives
PyTorch's defaults as exact numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from functools import partial
from typing import Any

from .._errors import DeriveError
from .._exact import ExactValue, exact_number
from .._recurrence import Recurrence

__all__ = [
    "rmsprop",
    "adam",
    "adamw",
    "nadam",
    "optimizer_defaults",
    "ADAPTIVE",
    "rmsprop_step",
    "adam_step",
    "adamw_step",
    "nadam_step",
]

Grad = Callable[[Any], Any]

_DEFAULTS: dict[str, dict[str, Fraction]] = {
    "rmsprop": {"beta2": Fraction(99, 100), "eps": Fraction(1, 10**8)},
    "adam": {
        "beta1": Fraction(9, 10),
        "beta2": Fraction(999, 1000),
        "eps": Fraction(1, 10**8),
    },
    "adamw": {
        "beta1": Fraction(9, 10),
        "beta2": Fraction(999, 1000),
        "eps": Fraction(1, 10**8),
        "weight_decay": Fraction(1, 100),
    },
    "nadam": {
        "beta1": Fraction(9, 10),
        "beta2": Fraction(999, 1000),
        "eps": Fraction(1, 10**8),
    },
}


def optimizer_defaults(name: str) -> dict[str, Fraction]:
    """PyTorch's default hyper-parameters of an adaptive built-in, as exact numbers.

    (optax's differ for RMSProp, `decay=0.9`, and AdamW, `weight_decay=1e-4`.)

    !!! example
        ```python
        >>> import derive
        >>> derive.optimizer_defaults("adam")["beta2"]
        Fraction(999, 1000)
        >>> flow = derive.modified_flow(
        ...     derive.adam(**derive.optimizer_defaults("adam")), order=0)

        ```
    """
    try:
        return dict(_DEFAULTS[name])
    except KeyError:
        raise DeriveError(
            f"no defaults are recorded for {name!r}.",
            f"The adaptive built-ins are {', '.join(_DEFAULTS)}.",
        ) from None


def _denominator(v: Any, eps: Any, inside: bool, xp: Any) -> Any:
    return xp.sqrt(v + eps) if inside else xp.sqrt(v) + eps


def _adam_moments(
    x: Any, m: Any, v: Any, grad: Grad, beta1: Any, beta2: Any
) -> tuple[Any, Any, Any]:
    """The gradient at `x` and the updated moments $m^+$, $v^+$ of the Adam family."""
    d = grad(x)
    return d, beta1 * m + (1 - beta1) * d, beta2 * v + (1 - beta2) * d * d


def _placements(
    make: Callable[[bool], Callable[..., Any]], name: str
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The step of one optimizer with $\\varepsilon$ outside and inside the root, from
    one body: `make(inside)` returns the step (the tracer reads hyper-parameters from
    the step's keyword-only arguments, so the placement cannot be one of them)."""
    outside, inside = make(False), make(True)
    outside.__name__ = outside.__qualname__ = f"{name}_step"
    inside.__name__ = inside.__qualname__ = f"{name}_inside_step"
    inside.__doc__ = f"{outside.__doc__} With $\\varepsilon$ inside the root."
    return outside, inside


def _rmsprop(inside: bool) -> Callable[..., Any]:
    def step(
        x: Any, v: Any, *, grad: Grad, h: Any, beta2: Any, eps: Any, xp: Any
    ) -> tuple[Any, Any]:
        """RMSProp: $v^+ = \\beta_2 v + (1-\\beta_2) \\nabla f^2$,
        $x^+ = x - h \\nabla f / (\\sqrt{v^+} + \\varepsilon)$."""
        d = grad(x)
        v = beta2 * v + (1 - beta2) * d * d
        return x - h * d / _denominator(v, eps, inside, xp), v

    return step


def _adam(inside: bool, nesterov: bool = False) -> Callable[..., Any]:
    def step(
        x: Any,
        m: Any,
        v: Any,
        *,
        grad: Grad,
        h: Any,
        beta1: Any,
        beta2: Any,
        eps: Any,
        xp: Any,
    ) -> tuple[Any, Any, Any]:
        d, m, v = _adam_moments(x, m, v, grad, beta1, beta2)
        direction = beta1 * m + (1 - beta1) * d if nesterov else m
        return x - h * direction / _denominator(v, eps, inside, xp), m, v

    step.__doc__ = (
        "NAdam: $x^+ = x - h (\\beta_1 m^+ + (1-\\beta_1)\\nabla f)/(\\sqrt{v^+} + "
        "\\varepsilon)$."
        if nesterov
        else "Adam (no bias correction): $x^+ = x - h m^+/(\\sqrt{v^+} + \\varepsilon)$."
    )
    return step


def _adamw(inside: bool) -> Callable[..., Any]:
    def step(
        x: Any,
        m: Any,
        v: Any,
        *,
        grad: Grad,
        h: Any,
        beta1: Any,
        beta2: Any,
        eps: Any,
        weight_decay: Any,
        xp: Any,
    ) -> tuple[Any, Any, Any]:
        """AdamW: $x^+ = x - h (m^+/(\\sqrt{v^+} + \\varepsilon) + \\lambda x)$."""
        d, m, v = _adam_moments(x, m, v, grad, beta1, beta2)
        return x - h * (m / _denominator(v, eps, inside, xp) + weight_decay * x), m, v

    return step


rmsprop_step, rmsprop_inside_step = _placements(_rmsprop, "rmsprop")
adam_step, adam_inside_step = _placements(_adam, "adam")
adamw_step, adamw_inside_step = _placements(_adamw, "adamw")
nadam_step, nadam_inside_step = _placements(partial(_adam, nesterov=True), "nadam")


def _switch(value: object) -> bool:
    if isinstance(value, bool):
        return value
    try:
        number = exact_number(value)
    except DeriveError:
        number = None
    if number in (0, 1):
        return bool(number)
    raise DeriveError(
        f"eps_inside_sqrt must be true or false (1 or 0), got {value!r}.",
        "Pass eps_inside_sqrt=True (on the command line --param eps_inside_sqrt=1).",
    )


def _check(name: str, value: ExactValue | None, averaging: bool) -> Fraction | None:
    if value is None:
        return None
    v = exact_number(value)
    if averaging and v == 1:
        raise DeriveError(
            f"{name} = 1 is singular: the moment never forgets its past, so it has no "
            "slow manifold and there is no modified flow.",
            f"Choose 0 <= {name} < 1 (e.g. --param {name}=0.999), or leave it symbolic.",
        )
    return v


def _build(
    step: Callable[..., Any],
    inside_step: Callable[..., Any],
    name: str,
    description: str,
    inside: object,
    values: dict[str, ExactValue | None],
) -> Recurrence:
    from .._trace import trace_function

    eps_inside = _switch(inside)
    checked = {k: _check(k, v, k in ("beta1", "beta2")) for k, v in values.items()}
    fn = inside_step if eps_inside else step
    where = (
        "eps inside the square root" if eps_inside else "eps outside the square root"
    )
    return trace_function(fn, name, checked, description=f"{description} ({where})")


def rmsprop(
    beta2: ExactValue | None = None,
    eps: ExactValue | None = None,
    *,
    eps_inside_sqrt: object = False,
) -> Recurrence:
    """RMSProp: $v^+ = \\beta_2 v + (1-\\beta_2) \\nabla f \\odot \\nabla f$,
    $x^+ = x - h \\nabla f/(\\sqrt{v^+} + \\varepsilon)$ (PyTorch's `alpha` is
    $\\beta_2$; defaults 0.99 and 1e-8).

    **Arguments:**

    - `beta2`, `eps`: numbers (exact: `0.99` is 99/100) or `None` for symbols.
    - `eps_inside_sqrt`: use $\\sqrt{v^+ + \\varepsilon}$ instead.

    !!! example
        ```python
        >>> import derive
        >>> print(derive.modified_flow(derive.rmsprop(), order=0).text(header=False))
        dx/dt = g/(|g| + eps)

        ```
    """
    return _build(
        rmsprop_step,
        rmsprop_inside_step,
        "rmsprop",
        "RMSProp",
        eps_inside_sqrt,
        {"beta2": beta2, "eps": eps},
    )


def adam(
    beta1: ExactValue | None = None,
    beta2: ExactValue | None = None,
    eps: ExactValue | None = None,
    *,
    eps_inside_sqrt: object = False,
) -> Recurrence:
    """Adam without bias correction (a transient): $m^+ = \\beta_1 m + (1-\\beta_1)
    \\nabla f$, $v^+ = \\beta_2 v + (1-\\beta_2) \\nabla f^{\\odot 2}$,
    $x^+ = x - h m^+/(\\sqrt{v^+} + \\varepsilon)$ (defaults 0.9, 0.999, 1e-8).

    **Arguments:**

    - `beta1`, `beta2`, `eps`: numbers (exact) or `None` for symbols.
    - `eps_inside_sqrt`: use $\\sqrt{v^+ + \\varepsilon}$ (Cattaneo et al.'s form).

    !!! example
        ```python
        >>> import derive
        >>> derive.adam(beta1=0.9).parameters
        ('beta2', 'eps')

        ```

    ??? cite "References"
        Kingma & Ba, *Adam: a method for stochastic optimization*, ICLR 2015;
        Cattaneo, Klusowski & Shigida, *On the implicit bias of Adam*, ICML 2024.
    """
    return _build(
        adam_step,
        adam_inside_step,
        "adam",
        "Adam",
        eps_inside_sqrt,
        {"beta1": beta1, "beta2": beta2, "eps": eps},
    )


def adamw(
    beta1: ExactValue | None = None,
    beta2: ExactValue | None = None,
    eps: ExactValue | None = None,
    weight_decay: ExactValue | None = None,
    *,
    eps_inside_sqrt: object = False,
) -> Recurrence:
    """AdamW (decoupled weight decay $\\lambda$ = `weight_decay`):
    $x^+ = x - h (m^+/(\\sqrt{v^+} + \\varepsilon) + \\lambda x)$ (PyTorch defaults
    0.9, 0.999, 1e-8, 0.01).

    !!! example
        ```python
        >>> import derive
        >>> derive.adamw(weight_decay=0.01).values
        {'weight_decay': Fraction(1, 100)}

        ```

    ??? cite "References"
        Loshchilov & Hutter, *Decoupled weight decay regularization*, ICLR 2019.
    """
    return _build(
        adamw_step,
        adamw_inside_step,
        "adamw",
        "AdamW",
        eps_inside_sqrt,
        {"beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay},
    )


def nadam(
    beta1: ExactValue | None = None,
    beta2: ExactValue | None = None,
    eps: ExactValue | None = None,
    *,
    eps_inside_sqrt: object = False,
) -> Recurrence:
    """NAdam with constant momentum: $x^+ = x - h (\\beta_1 m^+ + (1-\\beta_1)
    \\nabla f)/(\\sqrt{v^+} + \\varepsilon)$ (defaults 0.9, 0.999, 1e-8).

    !!! example
        ```python
        >>> import derive
        >>> derive.nadam().states
        ('x', 'm', 'v')

        ```

    ??? cite "References"
        Dozat, *Incorporating Nesterov momentum into Adam*, ICLR 2016 workshop.
    """
    return _build(
        nadam_step,
        nadam_inside_step,
        "nadam",
        "NAdam",
        eps_inside_sqrt,
        {"beta1": beta1, "beta2": beta2, "eps": eps},
    )


ADAPTIVE: dict[str, Callable[..., Recurrence]] = {
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
    "nadam": nadam,
}
"""The adaptive built-ins by name."""
