"""What answerers produce: streamed text, then the whole answer with citations that point at evidence.

A citation can only be made from a clip of the retrieved moments (`cite`), and `keep_cited_evidence`
drops any that is not, so an answer never cites a moment it was not given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from streammm.qa.citations import clock, spans, tag_for
from streammm.qa.moments import Moment
from streammm.records import Clip

__all__ = ["AnswerEvent", "Answerer", "Citation", "Delta", "Done", "Evidence", "clock", "keep_cited_evidence", "placed"]


@dataclass(frozen=True)
class Citation:
    """A cited span of a stream. `text_start`..`text_end` is where its tag is in the answer text (code
    points, end exclusive), once `placed`; they are not part of what is cited, so equality ignores them."""

    stream_id: str
    start_s: float
    end_s: float
    clip_id: str
    text_start: int | None = field(default=None, compare=False)
    text_end: int | None = field(default=None, compare=False)

    @property
    def tag(self) -> str:
        """How the citation reads in the text: `[stream @ mm:ss–mm:ss]`."""
        return tag_for(self.stream_id, self.start_s, self.end_s)

    def to_json(self) -> dict[str, object]:
        return {
            "stream_id": self.stream_id,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "clip_id": self.clip_id,
            "text_start": self.text_start,
            "text_end": self.text_end,
        }


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


def placed(done: Done) -> Done:
    """`done` with each citation's `text_start`/`text_end` set to where its tag is in `done.text` (None
    when the tag is not there). Call it on the final text: editing the text moves the tags."""
    found = spans(done.text, [c.tag for c in done.citations])
    return replace(
        done,
        citations=tuple(
            replace(c, text_start=span[0] if span else None, text_end=span[1] if span else None)
            for c, span in zip(done.citations, found)
        ),
    )
