"""Protocol fuzzing with Hypothesis: generated JSON values and byte strings for every websocket message type
and for the HTTP bodies and paths, against the real app over the dev store (real encoder and answerer).

No response may be a 500 or an `internal` error, every bad message gets its error event on a socket that
stays open, and afterwards the very same socket still answers a valid question with citations.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from streammm.config import STRATEGIES, load_settings
from streammm.models.registry import create_question_encoder
from streammm.server.app import create_app
from streammm.store.factory import open_existing_store

pytestmark = pytest.mark.integration

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
ERROR_CODES = {
    "bad_json", "bad_request", "unknown_type", "too_large", "question_too_long", "k_out_of_range", "unknown_stream",
    "duplicate_id", "too_many_requests", "unknown_id", "watch_unavailable",
}

hostile = st.sampled_from([float("inf"), float("-inf"), float("nan"), "5", True, 10**30, -1, "", " ", "\x00", "../../etc/passwd"])
scalars = hostile | st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=40)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
plausible = {
    "id": st.text(min_size=1, max_size=12) | json_values,
    "question": st.text(max_size=60) | json_values,
    "query": st.text(max_size=60) | json_values,
    "k": st.integers(min_value=-3, max_value=80) | json_values,
    "time_range": st.lists(hostile | st.floats() | st.integers(min_value=-5, max_value=10**9), min_size=2, max_size=2) | json_values,
    "streams": st.lists(st.sampled_from(["narrated_slideshow", "movie-hello", "nope"]) | json_values, max_size=3) | json_values,
    "strategy": st.sampled_from([*STRATEGIES, "magic"]) | json_values,
    "threshold": st.floats() | json_values,
}


def message(kind: str) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"type": st.just(kind)}, optional=plausible)


messages = st.one_of(message("ask"), message("watch"), message("cancel"), message("nope"), st.dictionaries(st.text(max_size=8), json_values, max_size=5))
deep = st.tuples(st.integers(min_value=100, max_value=50_000), st.sampled_from(["[", '{"a":', "[{"])).map(lambda t: t[1] * t[0])
frames = st.one_of(
    messages.map(lambda m: json.dumps(m, allow_nan=True)),  # Infinity and NaN as Python's json writes them
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    deep,
    st.text(max_size=200),
    st.binary(max_size=200),
)


async def _never_a_clip(stop: asyncio.Event):
    await stop.wait()
    return
    yield


@pytest.fixture(scope="module")
def fuzz_client(dev_data_dir: Path):
    overrides = {"store.data_dir": str(dev_data_dir), "server.allowed_hosts": ["testserver"], "server.max_watches": 1024}
    app_settings = load_settings(env={}, overrides=overrides)
    encoder = create_question_encoder(app_settings.models)
    store = open_existing_store(app_settings, encoder.dim)
    app = create_app(app_settings, store, encoder, data_dir=dev_data_dir, clip_feed=lambda stop: _never_a_clip(stop))
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        yield client


def test_fuzzed_websocket_messages_get_errors_never_internal_and_the_socket_still_answers(fuzz_client: TestClient):
    events: list[dict] = []
    with fuzz_client.websocket_connect("/v1/ws") as ws:

        @FUZZ
        @given(frame=frames)
        def one(frame: str | bytes) -> None:
            ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_text(frame)
            probe = f"probe-{uuid.uuid4().hex}"  # a barrier: its error comes after the frame's own reply
            ws.send_json({"type": "cancel", "id": probe})
            while True:
                event = ws.receive_json()
                events.append(event)
                if event.get("id") == probe:
                    assert event["code"] == "unknown_id"
                    return

        one()
        errors = [e for e in events if e["type"] == "error"]
        assert errors and {e["code"] for e in errors} <= ERROR_CODES, {e["code"] for e in errors} - ERROR_CODES
        ws.send_json({"type": "ask", "id": "after-the-fuzz", "question": "when does the narrator say he was not an ill disposed young man?"})
        while True:
            event = ws.receive_json()
            assert not (event["type"] == "error" and event["code"] not in ERROR_CODES), event
            if event.get("id") == "after-the-fuzz" and event["type"] == "answer.done":
                assert event["citations"] and any(c["stream_id"] == "narrated_slideshow" for c in event["citations"])
                break


@FUZZ
@given(body=st.one_of(frames.map(lambda f: f if isinstance(f, bytes) else f.encode()), message("search").map(lambda m: json.dumps(m, allow_nan=True).encode())))
def test_fuzzed_search_bodies_are_answered_or_refused_never_a_500(fuzz_client: TestClient, body: bytes):
    response = fuzz_client.post("/v1/search", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 400, 404, 413), response.text
    if response.status_code != 200:
        assert response.json()["error"]["code"] in ERROR_CODES


@FUZZ
@given(name=st.text(min_size=1, max_size=60))
def test_fuzzed_clip_and_stream_names_in_paths_are_not_found_never_a_500(fuzz_client: TestClient, name: str):
    from urllib.parse import quote

    for path in (f"/v1/clips/{quote(name, safe='')}", f"/v1/clips/{quote(name, safe='')}/thumbnail.jpg", f"/v1/streams/{quote(name, safe='')}/media"):
        response = fuzz_client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code, response.text[:200])
