"""SGD and SGD with momentum in PyTorch's convention, as plain update functions.

The mini-batch optimizers are the full-batch ones with the gradient of one batch per
step; the definitions are the same functions of the state that the symbolic tracer
reads and the numerics run:

- SGD: $x_{n+1} = x_n - h \\nabla f_{c_n}(x_n)$ (`torch.optim.SGD`, `momentum=0`);
- SGDM: $v_{n+1} = \\mu v_n + \\nabla f_{c_n}(x_n)$, $x_{n+1} = x_n - h v_{n+1}$
  (`torch.optim.SGD(momentum=mu)`, no dampening). With one batch this is heavy ball
  with $\\beta = \\mu$; its effective learning rate is $h/(1-\\mu)$ (Fu et al., arXiv
  2306.09000).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import DeriveError
from ._exact import ExactValue, exact_number
from ._recurrence import Recurrence
from ._trace import trace

if TYPE_CHECKING:  # _optimizers imports this module
    from ._optimizers import Grad, OptimizerDefinition

__all__ = ["sgd", "sgdm", "sgd_step", "sgdm_step", "minibatch_optimizer"]


def sgd_step(x: Any, *, grad: Grad, h: Any) -> Any:
    """One SGD step on the current batch: $x - h \\nabla f_c(x)$."""
    return x - h * grad(x)


def sgdm_step(x: Any, v: Any, *, grad: Grad, h: Any, mu: Any) -> tuple[Any, Any]:
    """One SGDM step (PyTorch): $v \\leftarrow \\mu v + \\nabla f_c(x)$, $x \\leftarrow
    x - h v$."""
    v_new = mu * v + grad(x)
    return x - h * v_new, v_new


def sgd() -> Recurrence:
    """Stochastic gradient descent, one batch per step.

    !!! example
        ```python
        >>> import derive
        >>> derive.sgd().states
        ('x',)

        ```
    """
    return trace(sgd_step, name="sgd", description="SGD (PyTorch, no momentum)")


def sgdm(mu: ExactValue | None = None) -> Recurrence:
    """SGD with momentum in PyTorch's convention.

    **Arguments:**

    - `mu`: the momentum, a number in $[0, 1)$ (taken exactly: `0.9` is 9/10) or
      `None` for a symbol.

    !!! example
        ```python
        >>> import derive
        >>> flow = derive.modified_flow(derive.sgdm(0.5), order=1)   # = heavy ball
        >>> [(t.tree, str(t.coefficient)) for t in flow.terms]
        [('[]', '2'), ('[[]]', '-6')]

        ```
    """
    if mu is not None:
        value = exact_number(mu)
        if value == 1:
            raise DeriveError(
                "mu = 1 is singular: the momentum never forgets, and there is no slow "
                "manifold or modified flow.",
                "Choose 0 <= mu < 1 (e.g. --param mu=0.9), or leave mu symbolic.",
            )
        mu = value
    return trace(
        sgdm_step, name="sgdm", description="SGD with momentum (PyTorch)", mu=mu
    )


def minibatch_optimizer(
    definition: OptimizerDefinition, **params: ExactValue | None
) -> Recurrence:
    """`"sgd"`, `"sgdm"` (with `mu=`), or anything [`optimizer`][derive.optimizer]
    takes, as a [`Recurrence`][derive.Recurrence] (SGD and SGDM are built-ins)."""
    from ._optimizers import optimizer_from

    return optimizer_from(definition, params)
