"""`streammm ask`: a terminal websocket client that prints the streamed answer and its citations."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any, TextIO

import websockets

from streammm.errors import StreammmError
from streammm.qa.answer import Citation


class ClientError(StreammmError):
    pass


async def ask(
    url: str,
    question: str,
    *,
    streams: list[str] | None = None,
    k: int | None = None,
    strategy: str | None = None,
    token: str | None = None,
    out: TextIO = sys.stdout,
    as_json: bool = False,
    timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Ask over the websocket at `url`; returns {"moments": [...], "answer": answer.done event}."""
    request: dict[str, Any] = {"type": "ask", "id": uuid.uuid4().hex[:12], "question": question}
    if streams:
        request["streams"] = streams
    if k is not None:
        request["k"] = k
    if strategy:
        request["strategy"] = strategy
    headers = {"Authorization": f"Bearer {token}"} if token else None
    result: dict[str, Any] = {"moments": [], "answer": None}
    try:
        async with websockets.connect(url, additional_headers=headers, max_size=2**24, open_timeout=10) as socket:
            await socket.send(json.dumps(request))
            async with asyncio.timeout(timeout_s):
                async for raw in socket:
                    event = json.loads(raw)
                    if event.get("id") != request["id"]:
                        continue
                    kind = event.get("type")
                    if kind == "moments":
                        result["moments"] = event["moments"]
                    elif kind == "answer.delta" and not as_json:
                        out.write(event["text"])
                        out.flush()
                    elif kind == "answer.done":
                        result["answer"] = event
                        break
                    elif kind == "error":
                        raise ClientError(f"{event.get('code')}: {event.get('message')}")
    except websockets.exceptions.InvalidStatus as exc:
        raise ClientError(f"the server at {url} refused the connection: HTTP {exc.response.status_code}") from None
    except websockets.exceptions.ConnectionClosedError as exc:
        if exc.rcvd is not None and exc.rcvd.code == 4401:
            raise ClientError("the server wants a valid token (--token or STREAMMM_TOKEN)") from None
        raise ClientError(f"the connection to {url} closed: {exc}") from None
    except (OSError, TimeoutError) as exc:
        raise ClientError(f"cannot reach {url}: {exc or type(exc).__name__} (is `streammm serve` or `streammm up` running?)", retriable=True) from None
    if result["answer"] is None:
        raise ClientError("the server closed the connection before answering", retriable=True)
    if as_json:
        json.dump(result, out, ensure_ascii=False)
        out.write("\n")
    else:
        out.write("\n")
        citations = [Citation(**c) for c in result["answer"]["citations"]]
        if citations:
            out.write("\ncitations:\n")
            for citation in citations:
                out.write(f"  {citation.tag}  clip {citation.clip_id}\n")
    return result
