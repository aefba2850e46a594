"""The wire format: client requests parsed and checked into typed values, server events built as dicts.

Every problem with a request becomes a `RequestError` with a stable `code` (see docs/api.md) and a
message naming the field, so the websocket and the HTTP search report bad input the same way.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator

from streammm import wire
from streammm.config import STRATEGIES, ServerConfig
from streammm.qa.answer import Done, placed
from streammm.qa.moments import Moment
from streammm.qa.service import SearchRequest
from streammm.records import Clip
from streammm.server.auth import Access


class RequestError(Exception):
    def __init__(self, code: str, message: str, request_id: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.status = status


def _known_strategy(value: str) -> str:
    if value not in STRATEGIES:
        raise ValueError(f"unknown strategy {value!r}; choose one of {', '.join(STRATEGIES)}")
    return value


Strategy = Annotated[StrictStr, AfterValidator(_known_strategy)]  # one of config.STRATEGIES
Number = Annotated[float, Field(strict=True)]  # a JSON number (an integer is fine); never a string or a boolean


class _Message(BaseModel):
    # Strict about types (`k: "5"` or `k: true` is a bad request, not 5 or 1); no Infinity or NaN.
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class _QueryFields(_Message):
    streams: list[StrictStr] | None = None
    time_range: tuple[Number, Number] | None = None
    k: StrictInt | None = None
    strategy: Strategy | None = None

    @field_validator("time_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not (0 <= value[0] <= value[1]):
            raise ValueError("time_range must be [start_s, end_s] with 0 <= start_s <= end_s")
        return value


class SearchBody(_QueryFields):
    query: StrictStr = Field(min_length=1)


class AskMessage(_QueryFields):
    type: Literal["ask"]
    id: str = Field(min_length=1, max_length=128)
    question: StrictStr = Field(min_length=1)


class WatchMessage(_Message):
    type: Literal["watch"]
    id: str = Field(min_length=1, max_length=128)
    query: StrictStr = Field(min_length=1)
    streams: list[StrictStr] | None = None
    threshold: Number | None = Field(None, ge=-1, le=1)


class CancelMessage(_Message):
    type: Literal["cancel"]
    id: str = Field(min_length=1, max_length=128)


ClientMessage = AskMessage | WatchMessage | CancelMessage
TYPES = {"ask": AskMessage, "watch": WatchMessage, "cancel": CancelMessage}


def parse_client_message(raw: str | bytes, limits: ServerConfig) -> ClientMessage:
    data = _json_object(raw, limits, "message", 400)
    request_id = data.get("id") if isinstance(data.get("id"), str) else None
    kind = data.get("type")
    if kind not in TYPES:
        raise RequestError("unknown_type", f"unknown message type {kind!r}; expected ask, watch or cancel", request_id)
    message = _validate(TYPES[kind], data, request_id)
    if isinstance(message, AskMessage):
        check_text(message.question, "question", limits, request_id)
        check_k(message.k, limits, request_id)
    elif isinstance(message, WatchMessage):
        check_text(message.query, "query", limits, request_id)
    return message


def parse_search_body(raw: bytes, limits: ServerConfig) -> SearchBody:
    data = _json_object(raw, limits, "body", 413)
    body = _validate(SearchBody, data, None)
    check_text(body.query, "query", limits, None)
    check_k(body.k, limits, None)
    return body


def to_query(message: AskMessage | SearchBody, text: str, streams: tuple[str, ...] | None, limits: ServerConfig, default_strategy: str) -> SearchRequest:
    start, end = message.time_range if message.time_range else (None, None)
    return SearchRequest(text=text, streams=streams, start_s=start, end_s=end, k=message.k or limits.default_k, strategy=message.strategy or default_strategy)


def allowed_streams(requested: Sequence[str] | None, access: Access, known: set[str] | None, request_id: str | None) -> tuple[str, ...] | None:
    """The streams a request may search. A stream the caller may not see is reported like one that does
    not exist; `known` None skips the existence check (a watch may name a stream that has not started)."""
    if requested is not None:
        for stream_id in requested:
            if not access.allows(stream_id) or (known is not None and stream_id not in known):
                raise RequestError("unknown_stream", f"unknown stream {stream_id!r}", request_id, status=404)
    return access.restrict(requested)


def check_text(text: str, field: str, limits: ServerConfig, request_id: str | None) -> None:
    if len(text) > limits.max_question_chars:
        raise RequestError("question_too_long", f"{field} is {len(text)} characters; the limit is {limits.max_question_chars}", request_id)
    if not text.strip():
        raise RequestError("bad_request", f"{field} is empty", request_id)


def check_k(k: int | None, limits: ServerConfig, request_id: str | None) -> None:
    if k is not None and not 1 <= k <= limits.max_k:
        raise RequestError("k_out_of_range", f"k must be between 1 and {limits.max_k} (got {k})", request_id)


def _json_object(raw: str | bytes, limits: ServerConfig, what: str, too_large_status: int) -> dict[str, Any]:
    if len(raw) > limits.max_message_kb * 1024:
        raise RequestError("too_large", f"{what} is {len(raw)} bytes; the limit is {limits.max_message_kb} KB", status=too_large_status)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise RequestError("bad_json", f"the {what} nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("bad_json", f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("bad_json", f"the {what} must be a JSON object")
    return data


def _validate(model: type[BaseModel], data: dict[str, Any], request_id: str | None) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}" for err in exc.errors())
        raise RequestError("bad_request", problems, request_id) from None


# --- server events ----------------------------------------------------------------------------------------


def moment_json(moment: Moment) -> dict[str, Any]:
    best = moment.clips[0]
    return {
        "stream_id": moment.stream_id,
        "start_s": round(moment.start_s, 3),
        "end_s": round(moment.end_s, 3),
        "score": round(moment.score, 6),
        "relevance": round(moment.relevance, 3),
        "clip_id": moment.clip_id,
        "clip_ids": [c.clip_id for c in moment.clips],
        "transcript": moment.transcript,
        "ocr_text": moment.ocr_text,
        "tags": list(dict.fromkeys(t for c in moment.clips for t in c.tags)),
        "pending": sorted({m for c in moment.clips for m in c.pending}),
        "thumbnail_url": thumbnail_url(best),
    }


def clip_json(clip: Clip) -> dict[str, Any]:
    """The clip's fields (streammm.wire), the modalities it has evidence of, and its thumbnail's URL."""
    return {**wire.clip_json(clip), "modalities": list(clip.modalities), "thumbnail_url": thumbnail_url(clip)}


def thumbnail_url(clip: Clip) -> str | None:
    return f"/v1/clips/{clip.clip_id}/thumbnail.jpg" if clip.thumbnail else None


def moments_event(request_id: str, moments: Sequence[Moment]) -> dict[str, Any]:
    return {"type": "moments", "id": request_id, "moments": [moment_json(m) for m in moments]}


def delta_event(request_id: str, text: str) -> dict[str, Any]:
    return {"type": "answer.delta", "id": request_id, "text": text}


def done_event(request_id: str, done: Done) -> dict[str, Any]:
    """The whole answer; each citation says where its tag is in the text (`text_start`, `text_end`)."""
    done = placed(done)
    event: dict[str, Any] = {
        "type": "answer.done",
        "id": request_id,
        "text": done.text,
        "citations": [c.to_json() for c in done.citations],
        "answerer": done.answerer,
        "removed_citations": done.removed_citations,
    }
    if done.note:
        event["note"] = done.note
    return event


def new_incident_id() -> str:
    """An id to log an internal failure under and to give the client instead of the exception's text."""
    return secrets.token_hex(6)


def error_event(request_id: str | None, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "id": request_id, "code": code, "message": message}
