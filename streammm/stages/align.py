"""Align stage: per-stream observations of every modality into fixed windows (default 4 s, stride 2 s).

Each modality reports up to a watermark (media time it is final for). A window is stored once every
modality the stream's media can give (its *expected* modalities: a silent video expects no speech) has
reported past its end. For freshness, a window that some modalities are past but others are not waits
at most `provisional_after_s` (wall time) and is then stored *provisionally*, with the others pending.

Late evidence is never dropped. Per modality, `done_until[m]` is the start of the first window whose
clip lacks that modality's evidence; whenever the modality's watermark passes such a window's end, an
update carries its evidence for that window, and the handler merges it into the stored clip (same id).
A modality that is behind, however far, only makes clips wait; a modality that never reports leaves
them pending, which is visible, never silent.

The state is bounded: evidence is kept only from the first window that still lacks it, per modality, so
a modality that is behind holds nothing of the others, and a stored window's evidence lives in the store.
Windows start on the stride grid from the stream's first instant; the last one is the first that
reaches the stream's end. A report for a media range replaces what an earlier report said about that
range (a restarted worker re-reports), so at-least-once delivery never duplicates evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from streammm.config import AlignConfig
from streammm.records import FrameObservation, IngestRun, Observation, OcrLine, Word
from streammm.stages.ocr import line_key

DONE = math.inf
_EPS = 1e-6


@dataclass(frozen=True, eq=False)
class Window:
    stream_id: str
    start_s: float
    end_s: float
    frames: tuple[FrameObservation, ...]
    thumbnail: bytes | None
    words: tuple[Word, ...]
    ocr: tuple[OcrLine, ...]
    published_at: float  # when the newest evidence's segment was published (for freshness)


@dataclass(frozen=True, eq=False)
class Update:
    """Evidence to write into one window's clip: only `modalities` are complete in `window`."""

    window: Window
    modalities: frozenset[str]
    run: IngestRun
    new: bool  # the window's first store (False: late evidence for a clip already stored)


@dataclass(frozen=True, eq=False)
class AlignState:
    stream_id: str
    run: IngestRun
    created_at: float
    next_start_s: float | None = None  # the first window not stored yet
    end_s: float | None = None
    watermarks: dict[str, float] = field(default_factory=dict)
    ended: frozenset[str] = frozenset()
    done_until: dict[str, float] = field(default_factory=dict)  # per modality: first window lacking it
    heard: frozenset[str] = frozenset()  # modalities that reported since this aligner took the stream
    waiting_since: float | None = None  # wall time the window at next_start_s became partly ready
    frames: tuple[tuple[FrameObservation, bytes | None], ...] = ()
    words: tuple[Word, ...] = ()
    ocr: tuple[OcrLine, ...] = ()
    published: tuple[tuple[float, float, float], ...] = ()  # (range start_s, end_s, published_at)

    @property
    def expected(self) -> frozenset[str]:
        return self.run.expected

    @property
    def finished(self) -> bool:
        """Every window is stored and has every expected modality's evidence."""
        return self.next_start_s == DONE and all(self.done_until.get(m) == DONE for m in self.expected)

    @property
    def stored_until_s(self) -> float:
        """Media time up to which windows are stored (provisionally or complete)."""
        if self.next_start_s is None:
            return 0.0
        return self.end_s or 0.0 if self.next_start_s == DONE else self.next_start_s

    def pending(self) -> dict[str, float]:
        """Modalities some stored window still lacks, each with the start of the first such window."""
        stored = self.next_start_s if self.next_start_s is not None else -math.inf
        lacking = {m: self.done_until.get(m, 0.0) for m in sorted(self.expected)}
        return {m: d for m, d in lacking.items() if d < stored and d != DONE}


def observe(state: AlignState, obs: Observation, options: AlignConfig) -> AlignState:
    """Take one modality's report into the stream's state (the report's run is the state's run)."""
    m = obs.modality
    start, end = obs.start_s, obs.end_s
    marks = {
        "end_s": max(state.end_s or 0.0, end) if obs.last else state.end_s,
        "watermarks": {**state.watermarks, m: max(state.watermarks.get(m, -math.inf), end)},
        "ended": state.ended | {m} if obs.last else state.ended,
    }
    if m not in state.expected:
        return replace(state, **marks)  # e.g. the speech worker's empty reports of a silent video
    # A run's first segment opens the timeline at the window it falls in (media may start a little after
    # 0, or after a live restart's resume point); any later report resumes at the next window start.
    on_grid = _grid_floor(start, options) if obs.seq == 0 else _grid_ceil(start, options)
    next_start = state.next_start_s
    done_until = dict(state.done_until)
    if next_start is None:
        next_start = on_grid
    if m not in state.heard:
        # The modality's first report since this aligner took the stream. A restarted aligner sees each
        # modality's reports from its last commit on, and a report is committed only once every window
        # that uses it holds its evidence: windows before the report's start have this modality. (A
        # window stored without it before this report, meanwhile, already set an earlier point.)
        done_until[m] = min(done_until.get(m, on_grid), on_grid)
        if next_start != DONE and on_grid > next_start:
            next_start = on_grid  # windows before it are stored (this modality's evidence is in them)
    frames, words, ocr = state.frames, state.words, state.ocr
    if m == "visual":
        thumbs = obs.thumbnails if len(obs.thumbnails) == len(obs.frames) else (None,) * len(obs.frames)
        kept = tuple(f for f in frames if not start <= f[0].t_s < end)
        frames = tuple(sorted(kept + tuple(zip(obs.frames, thumbs)), key=lambda f: f[0].t_s))
    elif m == "speech":
        kept_words = tuple(w for w in words if not start <= _middle(w) < end)
        words = tuple(sorted(kept_words + obs.words, key=lambda w: w.start_s))
    elif m == "ocr":
        ocr = merge_spans(ocr, obs.ocr, final_until=state.watermarks.get(m, -math.inf))
    return replace(
        state,
        **marks,
        next_start_s=next_start,
        done_until=done_until,
        heard=state.heard | {m},
        frames=frames,
        words=words,
        ocr=ocr,
        published=state.published + ((start, end, obs.published_at),) if obs.published_at else state.published,
    )


def ready_windows(state: AlignState, now: float, options: AlignConfig) -> tuple[AlignState, list[Update]]:
    """Updates for every window whose evidence is complete for some modality not yet written, and the
    state with that evidence dropped. The handler must write the updates before keeping the state."""
    expected = state.expected
    done_until = dict(state.done_until)
    next_start = state.next_start_s
    updates: list[Update] = []
    if next_start is None:
        return state, updates

    # Late evidence first: modalities behind the stored windows complete them, in window order.
    late: dict[float, set[str]] = {}
    for m in sorted(expected):
        d = done_until.get(m)
        while d is not None and d != DONE and (next_start == DONE or d < next_start - _EPS):
            end = _window_end(state, d, options)
            if not _reported(state, m, end):
                break
            late.setdefault(d, set()).add(m)
            d = DONE if _is_last(state, d, options) else round(d + options.stride_s, 6)
        if d is not None:
            done_until[m] = d
    for start in sorted(late):
        end = _window_end(state, start, options)
        window = _window(state, start, end, _is_last(state, start, options))
        updates.append(Update(window, frozenset(late[start]), state.run, new=False))

    # Then new windows, from the first one not stored.
    waiting_since = state.waiting_since
    start = next_start
    while start != DONE and (state.end_s is None or start < state.end_s or start == 0.0):
        end = _window_end(state, start, options)
        ready = frozenset(m for m in expected if _same(done_until.get(m), start) and _reported(state, m, end))
        if ready != expected:
            if not ready:
                break
            # Wait for a modality only while it is not known to be behind: once stored windows lack it,
            # the next ones are stored without waiting again (it is merged in when it reports).
            behind = {m for m in expected - ready if done_until.get(m, start) < start - _EPS}
            if expected - ready - behind:
                waiting_since = now if waiting_since is None else waiting_since
                if now - waiting_since < options.provisional_after_s:
                    break
        is_last = _is_last(state, start, options)
        updates.append(Update(_window(state, start, end, is_last), ready, state.run, new=True))
        following = DONE if is_last else round(start + options.stride_s, 6)
        for m in ready:
            done_until[m] = following
        for m in expected - ready:
            done_until.setdefault(m, start)  # the first window that lacks it
        waiting_since = None
        start = following
    if state.end_s is not None and start != DONE and start >= state.end_s:
        start = DONE
    if start == DONE:
        # Past the stream's end nothing is lacking for modalities that were never behind.
        done_until = {m: (DONE if d >= (state.end_s or 0.0) else d) for m, d in done_until.items()}

    keep = {m: min(done_until.get(m, start), start) if m in expected else DONE for m in ("visual", "speech", "ocr")}
    keep_any = min(keep.values())
    return (
        replace(
            state,
            next_start_s=start,
            done_until=done_until,
            waiting_since=waiting_since,
            frames=tuple(f for f in state.frames if f[0].t_s >= keep["visual"]),
            words=tuple(w for w in state.words if _middle(w) >= keep["speech"]),
            ocr=tuple(o for o in state.ocr if o.end_s > keep["ocr"]),
            published=tuple(p for p in state.published if p[1] > keep_any),
        ),
        updates,
    )


def report_used(state: AlignState, modality: str, until_s: float, *, last: bool = False) -> bool:
    """Whether every window that uses a `modality` report ending at `until_s` holds its evidence.

    A run's `last` report is used only once the run is finished: it is how an aligner that takes the
    stream over (a restart, a rebalance) learns where that modality stands and where the stream ends.
    Were it committed while another modality lags, a modality with nothing left to re-report would look
    lacking from the first window the newcomer stores, and the run would never finish."""
    if last:
        return state.finished
    if modality not in state.expected:
        return True
    return state.done_until.get(modality, -math.inf) >= until_s - _EPS


def _same(a: float | None, b: float) -> bool:
    return a is not None and (a == b or abs(a - b) < _EPS)


def _grid_floor(t: float, options: AlignConfig) -> float:
    return math.floor(round(t / options.stride_s, 6)) * options.stride_s


def _grid_ceil(t: float, options: AlignConfig) -> float:
    return math.ceil(round(t / options.stride_s, 6)) * options.stride_s


def _window_end(state: AlignState, start: float, options: AlignConfig) -> float:
    end = start + options.window_s
    return min(end, state.end_s) if state.end_s is not None else end


def _is_last(state: AlignState, start: float, options: AlignConfig) -> bool:
    return state.end_s is not None and start + options.window_s >= state.end_s


def _reported(state: AlignState, modality: str, until_s: float) -> bool:
    return modality in state.ended or state.watermarks.get(modality, -math.inf) >= until_s - _EPS


def _window(state: AlignState, start: float, end: float, is_last: bool) -> Window:
    inside = [f for f in state.frames if start <= f[0].t_s < end or (is_last and f[0].t_s == end)]
    middle = (start + end) / 2
    with_thumb = [f for f in inside if f[1]]
    thumbnail = min(with_thumb, key=lambda f: abs(f[0].t_s - middle))[1] if with_thumb else None
    published = [p for s, e, p in state.published if s < end and e > start]
    return Window(
        stream_id=state.stream_id,
        start_s=round(start, 3),
        end_s=round(end, 3),
        frames=tuple(f[0] for f in inside),
        thumbnail=thumbnail,
        words=tuple(w for w in state.words if start <= _middle(w) < end or (is_last and _middle(w) >= start)),
        ocr=tuple(o for o in state.ocr if o.start_s < end and o.end_s > start),
        published_at=max(published) if published else 0.0,
    )


def merge_spans(
    existing: tuple[OcrLine, ...], incoming: tuple[OcrLine, ...], *, final_until: float = DONE
) -> tuple[OcrLine, ...]:
    """The same line in the same place reported again (still open, or re-read after a restart) extends one span.

    A line still showing when a report ends is held open past it, to the next frame that could show it (so
    that a later report of it joins it; stages/ocr.py). Before `final_until` (where the reports so far
    ended) a span's edges are final; after it only the incoming report knows when the line went: a line
    gone by the next segment's first frame ends halfway to it, not where it was held to."""
    spans = list(existing)
    for new in incoming:
        key = line_key(new.text)
        for i, old in enumerate(spans):
            if line_key(old.text) == key and old.same_place(new) and new.start_s <= old.end_s and new.end_s >= old.start_s:
                end_s = max(new.end_s, min(old.end_s, final_until))
                spans[i] = replace(old, start_s=min(old.start_s, new.start_s), end_s=end_s, score=max(old.score, new.score), pressed=old.pressed_with(new))
                break
        else:
            spans.append(new)
    return tuple(sorted(spans, key=lambda o: (o.start_s, o.text)))


def _middle(word: Word) -> float:
    return (word.start_s + word.end_s) / 2
