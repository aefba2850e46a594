"""The answerer a server's settings ask for (`qa.answerer`), its CPU work run on the server's query threads."""

from __future__ import annotations

import functools

from streammm.config import Settings
from streammm.models.base import TextEncoder
from streammm.qa.answer import Answerer
from streammm.qa.extractive import ExtractiveAnswerer
from streammm.server.workers import ANSWER, QueryWorkers


def make_answerer(settings: Settings, encoder: TextEncoder, workers: QueryWorkers | None = None) -> Answerer:
    """The configured answerer; its CPU work runs on `workers` (after retrieval) when given."""
    run = functools.partial(workers.run, ANSWER) if workers is not None else None
    extractive = ExtractiveAnswerer(encoder, max_sentences=settings.qa.max_sentences, run=run)
    if settings.qa.answerer == "llm":
        from streammm.qa.llm import LlmAnswerer

        return LlmAnswerer(settings.qa.llm, extractive)
    return extractive
