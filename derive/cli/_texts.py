"""Help texts shared by the sub-commands."""

from __future__ import annotations

__all__ = ["CONVENTIONS_HELP", "OPTIMIZERS_HELP", "EXAMPLES", "indent"]

CONVENTIONS_HELP = """\
Conventions: loss f, g = -grad f, step size h, time t = n h (the iterate x_n is
compared with x(n h)); gradient descent is x+ = x + h g(x). The modified flow
  dx/dt = F_0(x) + h F_1(x) + ... + h^p F_p(x)
matches the iterates up to O(h^(p+1)) (momentum methods: on their slow manifold).
Each term is an exact coefficient times an elementary differential F(tree), with
trees in nested brackets: F([]) = g, F([[]]) = g'g = H grad f, F([[],[]]) = g''(g,g),
F([t1,...,tk]) = g^(k)(F(t1),...,F(tk))."""

OPTIMIZERS_HELP = """\
Optimizers (OPTIMIZER):
  gd            gradient descent          x+ = x - h grad f(x)
  heavy-ball    Polyak's heavy ball       x+ = x + beta (x - x-) - h grad f(x)
  nesterov      Nesterov, fixed momentum  y = x + beta (x - x-), x+ = y - h grad f(y)
  sgd           SGD (one batch per step)  x+ = x - h grad f_c(x)
  sgdm          SGD with momentum, as in  v+ = mu v + grad f_c(x), x+ = x - h v+
                PyTorch                   (full batch: heavy ball with beta = mu)
  a spec        any other update rule, as text: inline (an argument containing '=',
                ';' or a newline) or from a file with --spec FILE
Parameters without a value (--param) stay symbols; beta = 1 is singular."""

EXAMPLES = """\
Examples:
  derive flow gd --order 2
  derive flow heavy-ball --order 1 --param beta=0.9 --format json
  derive flow nesterov --order 2 --format latex
  derive flow gd --order 1 --loss "x**2/2 + y**4" --vars x,y
  derive flow "state x; y = x - h*grad(x); x = x - h*grad(y)" --order 2
  derive flow --spec qhm.txt --param beta=0.9 --param nu=0.7 --format json
  derive flow sgd --batches 4 --sampling shuffle --order 2
  derive flow sgdm --param mu=0.9 --order 1 --batch-losses "x**2" "(x-1)**2" --vars x"""


def indent(text: str) -> str:
    """`text` with every non-empty line indented by two spaces."""
    return "\n".join("  " + line if line else line for line in text.splitlines())
