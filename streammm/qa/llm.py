"""The generative answerer: any OpenAI-compatible chat endpoint writes the answer from numbered evidence.

The model cites evidence as `[E2]`; each such marker becomes the evidence's `[stream @ mm:ss–mm:ss]`
tag as the text streams. A marker that names no evidence, and any `[stream @ ...]` tag the model wrote
itself that does not fall inside a retrieved clip, is removed and counted. When the endpoint fails,
the extractive answer is given instead, with a note saying why.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Sequence

import httpx

from streammm.config import LlmConfig
from streammm.qa.answer import AnswerEvent, Citation, Delta, Done, Evidence
from streammm.qa.citations import TAG_PATTERN, clock, seconds
from streammm.qa.extractive import ExtractiveAnswerer
from streammm.qa.moments import Moment

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You answer questions about videos using only the numbered evidence you are given: what was said, "
    "what text was on screen and what the frames show, each with its stream and time. Cite every claim "
    "with the evidence number in square brackets, like [E2], right after the claim. If the evidence does "
    "not answer the question, say so briefly. Be concise."
)
MARKER = re.compile(r"\[(E\d+(?:\s*,\s*E\d+)*)\]|" + TAG_PATTERN)  # an evidence marker, or a tag the model wrote
HOLD_BACK = 240  # an unfinished `[...` is held until it closes or grows past this


class LlmAnswerer:
    name = "llm"

    def __init__(self, config: LlmConfig, fallback: ExtractiveAnswerer, *, client: httpx.AsyncClient | None = None) -> None:
        if not config.base_url:
            raise ValueError("qa.llm.base_url is not set")
        self.config = config
        self.fallback = fallback
        self._client = client

    async def answer(self, question: str, moments: Sequence[Moment]) -> AsyncIterator[AnswerEvent]:
        if not moments:
            async for event in self.fallback.answer(question, moments):
                yield event
            return
        labelled = label_evidence(moments)
        rewriter = CitationRewriter(labelled, Evidence.of(moments))
        sent_any = False
        try:
            async for piece in self._stream(question, labelled):
                out = rewriter.feed(piece)
                if out:
                    sent_any = True
                    yield Delta(out)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            reason = f"the answer generator failed ({type(exc).__name__}: {str(exc)[:200]})"
            log.warning("%s; answering extractively", reason)
            if not sent_any:
                async for event in self.fallback.answer(question, moments):
                    yield event if isinstance(event, Delta) else Done(event.text, event.citations, event.answerer, note=reason)
                return
            rewriter.note = reason
        tail = rewriter.finish()
        if tail:
            yield Delta(tail)
        yield Done(rewriter.text, tuple(rewriter.citations), self.name, rewriter.removed, rewriter.note)

    async def _stream(self, question: str, labelled: Sequence[tuple[str, Moment]]) -> AsyncIterator[str]:
        body = {
            "model": self.config.model,
            "stream": True,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"Question: {question}\n\nEvidence:\n{evidence_text(labelled)}"},
            ],
        }
        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
        url = self.config.base_url.rstrip("/") + "/chat/completions"  # type: ignore[union-attr]
        client = self._client or httpx.AsyncClient(timeout=self.config.timeout_s)
        try:
            async with client.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code != 200:
                    detail = (await response.aread())[:200].decode("utf-8", "replace")
                    raise httpx.HTTPStatusError(f"HTTP {response.status_code}: {detail}", request=response.request, response=response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    choices = json.loads(data).get("choices") or [{}]
                    piece = (choices[0].get("delta") or {}).get("content")
                    if piece:
                        yield piece
        finally:
            if self._client is None:
                await client.aclose()


def label_evidence(moments: Sequence[Moment]) -> list[tuple[str, Moment]]:
    return [(f"E{i}", moment) for i, moment in enumerate(moments, start=1)]


def evidence_text(labelled: Sequence[tuple[str, Moment]]) -> str:
    blocks = []
    for label, moment in labelled:
        lines = [f"[{label}] stream {moment.stream_id}, {clock(moment.start_s)}–{clock(moment.end_s, up=True)}"]
        if moment.transcript:
            lines.append(f"Said: {moment.transcript}")
        if moment.ocr_text:
            lines.append("On screen: " + " | ".join(moment.ocr_text.splitlines()))
        tags = dict.fromkeys(t for c in moment.clips for t in c.tags)
        if tags:
            lines.append("Frames show: " + ", ".join(list(tags)[:8]))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


class CitationRewriter:
    """Turns streamed model text into answer text whose every citation points at evidence."""

    def __init__(self, labelled: Sequence[tuple[str, Moment]], evidence: Evidence) -> None:
        self.moments = dict(labelled)
        self.evidence = evidence
        self.citations: list[Citation] = []
        self.removed = 0
        self.note = ""
        self._out: list[str] = []
        self._pending = ""

    @property
    def text(self) -> str:
        return re.sub(r"[ \t]{2,}", " ", "".join(self._out)).strip()

    def feed(self, piece: str) -> str:
        """The text that can be released now (an unfinished `[...` waits for its end)."""
        self._pending += piece
        cut = self._pending.rfind("[")
        if cut != -1 and "]" not in self._pending[cut:] and len(self._pending) - cut < HOLD_BACK:
            ready, self._pending = self._pending[:cut], self._pending[cut:]
        else:
            ready, self._pending = self._pending, ""
        return self._emit(ready)

    def finish(self) -> str:
        ready, self._pending = self._pending, ""
        return self._emit(ready)

    def _emit(self, text: str) -> str:
        out = MARKER.sub(self._replace, text)
        self._out.append(out)
        return out

    def _replace(self, match: re.Match[str]) -> str:
        if match.group(1):
            tags = []
            for label in re.findall(r"E\d+", match.group(1)):
                moment = self.moments.get(label)
                if moment is None:
                    self.removed += 1
                    continue
                tags.append(self._cite(self.evidence.cite(moment.clips[0], moment.start_s, moment.end_s)))
            return " ".join(tags)
        citation = self._resolve_tag(match.group(2).strip(), match.group(3), match.group(4))
        if citation is None:
            self.removed += 1
            return ""
        return self._cite(citation)

    def _cite(self, citation: Citation) -> str:
        self.citations.append(citation)
        return citation.tag

    def _resolve_tag(self, stream_id: str, start: str, end: str) -> Citation | None:
        """A `[stream @ mm:ss–mm:ss]` the model wrote: kept only when it overlaps a retrieved clip of that stream."""
        try:
            start_s, end_s = seconds(start), seconds(end)
        except ValueError:
            return None
        for clip in self.evidence.clips.values():
            if clip.stream_id == stream_id and start_s < clip.end_s and end_s > clip.start_s:
                return self.evidence.cite(clip, start_s, end_s)
        return None
