"""How long a continuous-time model tracks a run: one summary of a distance over time.

[`compare`][numerics.compare] and [`side_by_side`][numerics.side_by_side] measure a
model by its distance from the run (the iterates, or their time average) divided by
the distance the run travelled, per saved step ($t_n = nh$; NaN where the model is
not defined). Both summarise it the same way: the largest distance and the last one
where the model is defined, the last time before it first exceeds
[`TRACKING`][numerics.TRACKING], and the last time the model is defined.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["TRACKING", "TrackSummary", "track_summary"]

TRACKING = 0.10
"""A model *tracks* the run while its relative distance stays below this."""


class TrackSummary(NamedTuple):
    """The summary of a relative distance over time (all `None` when the model is
    nowhere defined).

    - `max`: the largest distance; `end`: the distance at `defined_until`;
    - `tracks_until`: the last time before the distance first exceeds `TRACKING`
      (0 if it does at once; `defined_until` if it never does);
    - `defined_until`: the last time at which the distance is finite.
    """

    max: float | None
    end: float | None
    tracks_until: float | None
    defined_until: float | None


def track_summary(
    distance: NDArray[np.float64], times: NDArray[np.float64]
) -> TrackSummary:
    """Summarise a relative distance `distance[n]` at `times[n]` (see
    [`TrackSummary`][numerics._tracking.TrackSummary]).

    !!! example
        ```python
        >>> import numpy as np
        >>> from numerics._tracking import track_summary
        >>> d = np.array([0.0, 0.05, 0.08, 0.2, 0.3, np.nan])
        >>> track_summary(d, 0.5 * np.arange(6))
        TrackSummary(max=0.3, end=0.3, tracks_until=1.0, defined_until=2.0)

        ```
    """
    valid = np.isfinite(distance)
    if not valid.any():
        return TrackSummary(None, None, None, None)
    last = int(np.flatnonzero(valid)[-1])
    over = np.flatnonzero(valid & (distance > TRACKING))
    if over.size:
        until = float(times[over[0] - 1]) if over[0] > 0 else 0.0
    else:
        until = float(times[last])
    return TrackSummary(
        float(np.nanmax(distance)), float(distance[last]), until, float(times[last])
    )
