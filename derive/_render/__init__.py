"""The rendering layer: every text, LaTeX and JSON form of the toolkit's results.

Results (`ModifiedFlow`, `InvariantManifold`, `HighResolutionODE`, ...) are data; the
functions here render them, built on SymPy's printers
([`printers`][derive._render.printers]) with coefficients factored in FLINT before
they reach SymPy ([`coefficients`][derive._render.coefficients]). The result classes'
`.text()`, `.latex()` and `.to_dict()` call these functions.
"""

from .coefficients import coefficient_expr as coefficient_expr
from .coefficients import is_sum as is_sum
from .coefficients import pretty_coefficient as pretty_coefficient
from .names import differential_latex as differential_latex
from .names import differential_text as differential_text
from .names import scalar_latex as scalar_latex
from .names import scalar_text as scalar_text

__all__ = [
    "coefficient_expr",
    "differential_latex",
    "differential_text",
    "is_sum",
    "pretty_coefficient",
    "scalar_latex",
    "scalar_text",
]
