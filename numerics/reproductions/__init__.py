"""Published results reproduced, all in one shape.

Every reproduction is a function `reproduce_NAME(*, quick=False, progress=None,
**options)` that returns a report, an object with

- `passed` (`bool`): whether the reproduction's own checks pass;
- `table()`: the result table in Markdown;
- `figures(out)`: writes the figures (PNG) into the folder `out`, returns their paths;
- `to_json()`: the table and settings in machine-readable form (`summary.json`);
- `markdown(images=".")`: the whole report, figures linked under `images`.

[`write_report`][numerics.reproductions.write_report] writes the figures,
`summary.json` and `report.md` into a folder. On the command line every reproduction
is `derive reproduce NAME [--quick] [--out DIR]`, with exit status 0 when its checks
pass, 1 when one fails and 2 on bad input; [`REPRODUCTIONS`][numerics.reproductions.REPRODUCTIONS]
lists them. Importing this package is cheap: each reproduction's module (JAX, diffrax,
matplotlib) is imported when it runs.
"""

from ._registry import REPRODUCTIONS as REPRODUCTIONS
from ._registry import Report as Report
from ._registry import Reproduction as Reproduction
from ._registry import get_reproduction as get_reproduction
from ._registry import write_report as write_report

__all__ = [
    "REPRODUCTIONS",
    "Report",
    "Reproduction",
    "get_reproduction",
    "write_report",
]
