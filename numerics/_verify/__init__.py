"""`verify`: show numerically that a generated modified flow tracks the iterates.

One concept per module: `checks` (settings refused before computing), `budget` (the
memory and steps a run can afford), `plan` (horizon, step sizes, curvature, the
method's order), `run` (iterates and flows compared in chunks), `fit` (slopes and the
three verdicts), `record` (the certificate's record), `certify` (`verify`, the entry
point that ties them together).
"""

from .certify import DEFAULT_LOSS as DEFAULT_LOSS
from .certify import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from .certify import verify as verify

__all__ = ["DEFAULT_LOSS", "DEFAULT_TOLERANCE", "verify"]
