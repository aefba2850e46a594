"""Summary statistics the benchmarks report, defined once so every table means the same thing."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (q from 0 to 100) of `values` by linear interpolation; None when empty.

    Definition: sort the n values x[0] <= ... <= x[n-1], take the position p = (n - 1) * q / 100 and
    return x[floor(p)] + (x[ceil(p)] - x[floor(p)]) * (p - floor(p)). This is numpy's default
    ("linear", Hyndman & Fan type 7): the median of an even count is the mean of the middle two, q=0 is
    the minimum and q=100 the maximum. The order of `values` does not matter. Callers round.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be between 0 and 100, got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
