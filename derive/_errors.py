"""The one exception type that `derive` raises for bad input."""

from __future__ import annotations

__all__ = ["DeriveError"]


class DeriveError(ValueError):
    """Bad input to `derive`: the message names the problem and says how to fix it.

    **Arguments:**

    - `problem`: what is wrong, in one sentence.
    - `fix`: what to do instead.

    The command line prints `str(error)` and exits with status 2.

    !!! example
        ```python
        >>> from derive import DeriveError
        >>> str(DeriveError("beta = 1 is singular.", "Choose beta < 1."))
        'beta = 1 is singular. Choose beta < 1.'

        ```
    """

    def __init__(self, problem: str, fix: str = ""):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} {fix}".strip())
