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


@contextmanager
def polled_media_progress(total_s: float, *, desc: str, done_s: Callable[[], float], every_s: float = 0.5) -> Iterator[None]:
    """A media-seconds bar for work that reports no progress itself: a thread asks `done_s()` every
    `every_s` while the body runs (e.g. `up --once`, whose progress lives in its PipelineStats)."""
    import threading

    if not sys.stderr.isatty():
        yield
        return
    stop = threading.Event()
    with media_progress(total_s, desc=desc) as advance:

        def poll() -> None:
            while not stop.wait(every_s):
                advance(done_s())

        watcher = threading.Thread(target=poll, name="progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()


@contextmanager
def count_progress(total: int, *, desc: str, unit: str) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n=1)`; the bar counts items (e.g. queries asked)."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, disable=not sys.stderr.isatty(), file=sys.stderr)
    try:
        yield bar.update
    finally:
        bar.close()
