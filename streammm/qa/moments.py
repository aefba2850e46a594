"""Moments: adjacent retrieved clips of one stream merged into one cited span."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streammm.records import Clip, ScoredClip

MAX_MOMENT_S = 12.0


LINES_APART = " | "  # between the lines of a moment's evidence_text, where it was fitted to lines on screen
POPUP_EVIDENCE = "popup"  # Moment.evidence of a pop-up's moment (qa/popups.py): its evidence_text is its lines
PRESS_EVIDENCE = "pressed"  # ... of a press's moment (qa/clicks.py): its evidence_text is the line pressed

@dataclass(frozen=True)
class Fit:
    """The evidence a moment was fitted to: its kind (speech | ocr | visual | clips), span and text."""

    kind: str
    start_s: float
    end_s: float
    text: str = ""
    match: float = 0.0  # share of the query's content words it has (0 for visual)


@dataclass(frozen=True, eq=False)
class Moment:
    """A cited span of a stream and the clips that support it.

    `score` orders moments within one query (the retrieval's fused score); `relevance` is a calibrated
    0-1 estimate that the moment answers the query, comparable across queries (streammm.qa.fitting; 1.0
    where nothing was calibrated). `evidence` says what the span was fitted to: speech, ocr, visual, popup
    (lines that came and went together over a screen: qa/popups.py), pressed (a line on screen pressed:
    qa/clicks.py), or "" for a plain merge of clip windows; `evidence_text` is the matching words or lines.
    """

    stream_id: str
    start_s: float
    end_s: float
    score: float
    clips: tuple[Clip, ...]  # best first; the first holds the moment's start (its thumbnail is shown)
    relevance: float = 1.0
    evidence: str = ""
    evidence_text: str = ""

    @property
    def clip_id(self) -> str:
        return self.clips[0].clip_id

    @property
    def transcript(self) -> str:
        words = sorted({(w.start_s, w.text) for c in self.clips for w in c.words})
        return " ".join(text for _, text in words) or " ".join(dict.fromkeys(c.transcript for c in self.clips if c.transcript))

    @property
    def ocr_text(self) -> str:
        lines = dict.fromkeys(line.text for c in sorted(self.clips, key=lambda c: c.start_s) for line in c.ocr_lines)
        return "\n".join(lines) or "\n".join(dict.fromkeys(c.ocr_text for c in self.clips if c.ocr_text))


def covering(clips: Sequence[Clip], start_s: float, end_s: float) -> Clip:
    """The clip of `clips` that a citation of [start_s, end_s] is made in: of those that hold its start (a
    player seeks there), the one that overlaps it most; where none does, the one that overlaps it most (the
    first of them on a tie)."""
    holding = [clip for clip in clips if clip.start_s <= start_s < clip.end_s]
    return max(holding or clips, key=lambda clip: min(end_s, clip.end_s) - max(start_s, clip.start_s))


def merge_into_moments(found: Sequence[ScoredClip], *, max_moment_s: float = MAX_MOMENT_S) -> list[Moment]:
    """Clips of one stream that overlap or touch become one moment (while it spans at most `max_moment_s`).

    Clips are taken best first; a clip joins every moment it connects (merging them) when the result
    stays within the cap, else it starts its own. A moment ranks by its best clip.
    """
    moments: list[list[ScoredClip]] = []
    for item in found:
        clip = item.clip
        joined: list[ScoredClip] = [item]
        keep: list[list[ScoredClip]] = []
        for members in moments:
            start, end = _span(members)
            if (
                members[0].clip.stream_id == clip.stream_id
                and clip.start_s <= end
                and clip.end_s >= start
                and max(end, *(m.clip.end_s for m in joined)) - min(start, *(m.clip.start_s for m in joined)) <= max_moment_s
            ):
                joined = members + joined
            else:
                keep.append(members)
        moments = keep + [sorted(joined, key=lambda m: -m.score)]
        moments.sort(key=lambda members: -members[0].score)
    return [
        Moment(
            stream_id=members[0].clip.stream_id,
            start_s=_span(members)[0],
            end_s=_span(members)[1],
            score=members[0].score,
            clips=tuple(m.clip for m in members),
        )
        for members in moments
    ]


def _span(members: Sequence[ScoredClip]) -> tuple[float, float]:
    return min(m.clip.start_s for m in members), max(m.clip.end_s for m in members)


def over_range(moments: Sequence[Moment], start_s: float, end_s: float) -> list[Moment]:
    """For a question that names a short time range ("what is on screen at 1:30?"): each stream's moments
    as one moment over the range (as far as its clips reach), in the order of each stream's best moment.
    Its clips are theirs, the one that shows the range's start first (its thumbnail is shown), then best
    first; its relevance is their best."""
    by_stream: dict[str, list[Moment]] = {}
    for moment in moments:
        by_stream.setdefault(moment.stream_id, []).append(moment)
    merged = []
    for stream_id, group in by_stream.items():
        clips = list({c.clip_id: c for m in group for c in m.clips}.values())
        lo = max(start_s, min(c.start_s for c in clips))
        hi = min(end_s, max(c.end_s for c in clips))
        first = next((c for c in clips if c.start_s <= lo < c.end_s), clips[0])
        ordered = (first, *(c for c in clips if c is not first))
        merged.append(Moment(stream_id, lo, max(lo, hi), group[0].score, ordered, relevance=max(m.relevance for m in group)))
    return merged
