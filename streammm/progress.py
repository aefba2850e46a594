"""Progress bars for long work, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def media_progress(total_s: float, *, desc: str) -> Iterator[Callable[[float], None]]:
    """Yields `advance(media_time_s)`; the bar counts media seconds."""
    from tqdm import tqdm

    bar = tqdm(
        total=round(total_s, 1),
        desc=desc,
        unit="s",
        unit_scale=False,
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} media s [{elapsed}<{remaining}]",
    )

    def advance(media_s: float) -> None:
        bar.update(max(0.0, min(total_s, media_s) - bar.n))

    try:
        yield advance
        advance(total_s)
    finally:
        bar.close()
