"""What answerers produce: streamed text, then the whole answer with citations that point at evidence.

A citation can only be made from a clip of the retrieved moments (`cite`), and `keep_cited_evidence`
drops any that is not, so an answer never cites a moment it was not given.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from streammm.qa.moments import Moment
from streammm.records import Clip


@dataclass(frozen=True)
class Citation:
    stream_id: str
    start_s: float
    end_s: float
    clip_id: str

    @property
    def tag(self) -> str:
        """How the citation reads in the text: `[stream @ mm:ss–mm:ss]`."""
        return f"[{self.stream_id} @ {clock(self.start_s)}–{clock(self.end_s, up=True)}]"

    def to_json(self) -> dict[str, object]:
        return {"stream_id": self.stream_id, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "clip_id": self.clip_id}


@dataclass(frozen=True)
class Delta:
    """The next piece of the answer text."""

    text: str


@dataclass(frozen=True)
class Done:
    """The whole answer; `citations` in the order their tags appear in `text`."""

    text: str
    citations: tuple[Citation, ...]
    answerer: str
    removed_citations: int = 0
    note: str = ""


AnswerEvent = Delta | Done


class Answerer(Protocol):
    name: str

    def answer(self, question: str, moments: Sequence[Moment]) -> AsyncIterator[AnswerEvent]:
        """Deltas, then exactly one Done."""
        ...


@dataclass(frozen=True)
class Evidence:
    """The clips an answer may cite, by id."""

    clips: dict[str, Clip] = field(default_factory=dict)

    @classmethod
    def of(cls, moments: Sequence[Moment]) -> Evidence:
        return cls({clip.clip_id: clip for moment in moments for clip in moment.clips})

    def cite(self, clip: Clip, start_s: float | None = None, end_s: float | None = None) -> Citation:
        """A citation of `clip`, narrowed to [start_s, end_s] within its window."""
        if clip.clip_id not in self.clips:
            raise ValueError(f"clip {clip.clip_id} is not evidence for this answer")
        start = clip.start_s if start_s is None else min(max(start_s, clip.start_s), clip.end_s)
        end = clip.end_s if end_s is None else max(min(end_s, clip.end_s), start)
        return Citation(clip.stream_id, start, end, clip.clip_id)


def keep_cited_evidence(done: Done, moments: Sequence[Moment]) -> Done:
    """`done` without citations whose clip is not among `moments` (their tags are removed from the text)."""
    evidence = Evidence.of(moments)
    kept = tuple(c for c in done.citations if c.clip_id in evidence.clips and c.stream_id == evidence.clips[c.clip_id].stream_id)
    if len(kept) == len(done.citations):
        return done
    text = done.text
    for citation in done.citations:
        if citation not in kept:
            text = text.replace(" " + citation.tag, "", 1).replace(citation.tag, "", 1)
    return replace(done, text=text, citations=kept, removed_citations=done.removed_citations + len(done.citations) - len(kept))


def clock(seconds: float, *, up: bool = False) -> str:
    """mm:ss (h:mm:ss past an hour); `up` rounds to the next whole second so a span's end is inside its tag."""
    whole = math.ceil(seconds - 1e-6) if up else math.floor(seconds + 1e-6)
    whole = max(0, int(whole))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
