"""The server over the dev store: answers that cite the right moments, the HTTP routes, auth, bad input.

The app runs in-process (Starlette's TestClient) over the real embedded store that `streammm up --once`
filled from the dev videos, with the real MiniLM encoder and the real extractive answerer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from streammm.config import STRATEGIES, load_settings
from streammm.models.registry import create_question_encoder
from streammm.server.app import create_app
from streammm.store.factory import open_existing_store

pytestmark = pytest.mark.integration

NARRATOR_Q = "when does the narrator say he was not an ill disposed young man?"
COMMAND_Q = "what command is typed in the terminal?"
TOKEN_A = "token-for-slideshow-only"
TOKEN_ALL = "token-for-everything-1"


def overlaps(citation: dict, start: float, end: float) -> bool:
    return citation["start_s"] < end and citation["end_s"] > start


def make_client(data_dir: Path, **overrides) -> TestClient:
    # Starlette's TestClient names its host "testserver" in websocket handshakes: served like a local name.
    overrides = {"server.allowed_hosts": ["testserver"], **overrides}
    settings = load_settings(env={}, overrides={"store.data_dir": str(data_dir), **overrides})
    encoder = create_question_encoder(settings.models)
    store = open_existing_store(settings, encoder.dim)
    return TestClient(create_app(settings, store, encoder, data_dir=data_dir))


@pytest.fixture(scope="module")
def client(dev_data_dir: Path):
    with make_client(dev_data_dir) as c:
        yield c


@pytest.fixture(scope="module")
def secured(dev_data_dir: Path):
    tokens = [{"token": TOKEN_A, "name": "a", "streams": ["narrated_slideshow"]}, {"token": TOKEN_ALL, "name": "all"}]
    with make_client(dev_data_dir, **{"auth.enabled": True, "auth.tokens": tokens}) as c:
        yield c


def ask(ws, request_id: str, question: str, **fields) -> dict:
    """Send an ask; collect its events until answer.done (or error)."""
    ws.send_json({"type": "ask", "id": request_id, "question": question, **fields})
    return collect(ws, request_id)


def collect(ws, request_id: str) -> dict:
    got: dict = {"deltas": [], "moments": None, "done": None, "error": None, "other": []}
    while True:
        event = ws.receive_json()
        if event.get("id") != request_id:
            got["other"].append(event)
            continue
        if event["type"] == "moments":
            assert got["done"] is None and not got["deltas"], "moments come before any answer text"
            got["moments"] = event["moments"]
        elif event["type"] == "answer.delta":
            got["deltas"].append(event["text"])
        elif event["type"] == "answer.done":
            got["done"] = event
            return got
        elif event["type"] == "error":
            got["error"] = event
            return got


def cited_clips_are_evidence(got: dict) -> None:
    """Every citation is of a clip of the moments, and says where its tag is in the answer text."""
    evidence = {cid for m in got["moments"] for cid in m["clip_ids"]}
    text = got["done"]["text"]
    after = 0
    for citation in got["done"]["citations"]:
        assert citation["clip_id"] in evidence, (citation, evidence)
        start, end = citation["text_start"], citation["text_end"]
        assert after <= start < end, (citation, text)  # in the order of the text
        assert text[start:end].startswith(f"[{citation['stream_id']} @ ") and text[end - 1] == "]", (text[start:end], citation)
        after = end


# --- answers ---------------------------------------------------------------------------------------------


def test_narrator_question_streams_an_answer_citing_the_sentence(client):
    with client.websocket_connect("/v1/ws") as ws:
        got = ask(ws, "q1", NARRATOR_Q)
    assert got["error"] is None, got["error"]
    done = got["done"]
    assert len(got["deltas"]) >= 1 and "".join(got["deltas"]) == done["text"]
    first = done["citations"][0]
    assert first["stream_id"] == "narrated_slideshow" and overlaps(first, 7.31, 9.84), done
    assert "not an ill" in done["text"].lower()
    assert done["text"].index("[narrated_slideshow @ 00:07") < 60  # the first citation leads the answer
    cited_clips_are_evidence(got)


def test_a_question_that_names_a_time_is_answered_from_that_time(client):
    """"What does the narrator say at 0:08?": the moment is the seconds around 0:08 (6-10 s), and the answer
    says the sentence said then; "at 59:00", past every stream's end, finds nothing and says so."""
    with client.websocket_connect("/v1/ws") as ws:
        got = ask(ws, "t1", "what does the narrator say at 0:08?", streams=["narrated_slideshow"])
        past = ask(ws, "t2", "what is on screen at 59:00?")
    assert got["error"] is None and past["error"] is None, (got["error"], past["error"])
    assert [(m["start_s"], m["end_s"]) for m in got["moments"]] == [(6.0, 10.0)]
    assert "not an ill" in got["done"]["text"].lower(), got["done"]["text"]
    assert got["done"]["citations"] and all(overlaps(c, 6.0, 10.0) for c in got["done"]["citations"]), got["done"]["citations"]
    cited_clips_are_evidence(got)
    assert past["moments"] == [] and not past["done"]["citations"]


def test_questions_about_the_end_and_the_whole_video_are_answered_from_there(client):
    """"What is said at the end?" is the slideshow's last sentence, cited in its last 10 s; "what is this
    video about?" tells its story in order, from its first sentence to its last."""
    with client.websocket_connect("/v1/ws") as ws:
        end = ask(ws, "e1", "what is said at the end?", streams=["narrated_slideshow"])
        about = ask(ws, "e2", "what is this video about?", streams=["narrated_slideshow"])
    assert end["error"] is None and about["error"] is None, (end["error"], about["error"])
    assert "amiable himself" in end["done"]["text"] and "Dashwood" not in end["done"]["text"], end["done"]["text"]
    assert end["done"]["citations"] and all(c["start_s"] >= 14.0 for c in end["done"]["citations"]), end["done"]["citations"]
    text = about["done"]["text"]
    assert "Dashwood" in text and "amiable himself" in text and text.index("Dashwood") < text.index("ill") < text.index("amiable himself"), text
    starts = [c["start_s"] for c in about["done"]["citations"]]
    assert len(starts) >= 4 and starts == sorted(starts), about["done"]["citations"]
    cited_clips_are_evidence(end)
    cited_clips_are_evidence(about)


def test_how_many_times_is_counted_over_the_websocket_with_each_time_cited(client):
    """"Amiable" is said twice on the slideshow; asked with k=3, the count still searches for 20 moments. A
    count of nothing said (a silent video) is the usual answer, not "said 0 times"."""
    with client.websocket_connect("/v1/ws") as ws:
        got = ask(ws, "c1", "how many times is the word amiable said?", k=3)
        silent = ask(ws, "c2", "how many times does the cyclist say hello?", streams=["bikes"])
    assert got["error"] is None and silent["error"] is None, (got["error"], silent["error"])
    assert got["done"]["text"].startswith("“amiable” is said twice"), got["done"]["text"]
    assert [round(c["start_s"]) for c in got["done"]["citations"]] == [17, 23], got["done"]["citations"]
    assert len(got["moments"]) > 3  # a count is not cut to the k asked for
    assert " is said " not in silent["done"]["text"] and "frames show" in silent["done"]["text"], silent["done"]["text"]
    cited_clips_are_evidence(got)
    cited_clips_are_evidence(silent)


def test_a_question_about_a_setting_is_answered_with_its_value(client):
    """The screencast's settings dialog shows "Resolution:" and, beside it, "1024 x 768 (4:3)"."""
    with client.websocket_connect("/v1/ws") as ws:
        got = ask(ws, "r1", "what resolution is the laptop display set to?", streams=["display-dual-monitors"])
    assert "Resolution: 1024 x 768" in got["done"]["text"], got["done"]["text"]
    cited_clips_are_evidence(got)


def test_command_question_cites_the_typing_and_says_the_command(client):
    with client.websocket_connect("/v1/ws") as ws:
        got = ask(ws, "q2", COMMAND_Q)
    done = got["done"]
    assert "ls /usr" in done["text"], done["text"]
    assert any(c["stream_id"] == "movie-hello" and overlaps(c, 3.7, 5.3) for c in done["citations"]), done["citations"]
    cited_clips_are_evidence(got)


def test_what_is_typed_into_the_search_field_is_the_answer_not_its_placeholder(client):
    """The screencast's search field matches the question by its placeholder, "Type to search..."; what was typed
    there after it went ("dis", then "displayl": OCR's "displays") is the answer, cited from when typing began."""
    with client.websocket_connect("/v1/ws") as ws:
        got = ask(ws, "q3", "what does the user type in the search?")
    done = got["done"]
    assert re.match(r"At \[display-dual-monitors @ [^\]]*\] “displ\w*” is typed", done["text"]), done["text"]
    assert overlaps(done["citations"][0], 1.9, 3.0), done["citations"]
    cited_clips_are_evidence(got)


def test_every_citation_of_every_dev_query_points_at_its_moments(client, media: Path):
    queries = json.loads((media / "queries.json").read_text())["queries"]
    results: dict[str, dict] = {q["id"]: {"moments": None, "done": None} for q in queries}
    waiting = list(queries)
    in_flight = 0
    with client.websocket_connect("/v1/ws") as ws:
        while any(r["done"] is None for r in results.values()):
            while waiting and in_flight < 8:  # the socket's limit of asks in progress (server.max_in_flight)
                query = waiting.pop()
                ws.send_json({"type": "ask", "id": query["id"], "question": query["query"]})
                in_flight += 1
            event = ws.receive_json()
            assert event["type"] != "error", event
            if event["type"] == "moments":
                results[event["id"]]["moments"] = event["moments"]
            elif event["type"] == "answer.done":
                results[event["id"]]["done"] = event
                in_flight -= 1
    cited = 0
    for query_id, got in results.items():
        assert got["moments"] is not None, query_id
        cited_clips_are_evidence(got)
        cited += len(got["done"]["citations"])
    assert cited >= len(queries)  # the dev questions all find something to cite
    # Asked together, their retrievals ran in batches: each still got exactly the moments it gets alone.
    with client.websocket_connect("/v1/ws") as ws:
        for query in queries:
            alone = ask(ws, f"alone-{query['id']}", query["query"])
            assert results[query["id"]]["moments"] == alone["moments"], query["id"]


def test_stream_and_time_filters_restrict_the_evidence(client):
    with client.websocket_connect("/v1/ws") as ws:
        got = ask(ws, "f", "the screen shows a directory listing", streams=["movie-hello"], time_range=[5.0, 8.0], k=3)
    assert got["moments"] and len(got["moments"]) <= 3
    for moment in got["moments"]:
        assert moment["stream_id"] == "movie-hello" and moment["end_s"] > 5.0 and moment["start_s"] < 8.0


def test_more_asks_than_the_socket_limit_get_too_many_requests(client):
    with client.websocket_connect("/v1/ws") as ws:
        for i in range(9):
            ws.send_json({"type": "ask", "id": f"n{i}", "question": NARRATOR_Q})
        done, refused = set(), []
        while len(done) + len(refused) < 9:
            event = ws.receive_json()
            if event["type"] == "answer.done":
                done.add(event["id"])
            elif event["type"] == "error":
                refused.append(event)
    # the ninth is refused unless an earlier one had already finished when it arrived
    assert all(e["code"] == "too_many_requests" for e in refused) and len(done) >= 8


def test_cancel_stops_an_ask_and_a_watch_request_without_a_broker_is_refused(client):
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "ask", "id": "slow", "question": NARRATOR_Q})
        ws.send_json({"type": "cancel", "id": "slow"})
        events = []
        while True:
            event = ws.receive_json()
            events.append(event)
            if event["type"] in ("cancelled", "answer.done"):
                break
        # cancelled before it finished, or it finished first and the cancel names nothing in progress
        if event["type"] == "answer.done":
            assert ws.receive_json()["code"] == "unknown_id"
        ws.send_json({"type": "watch", "id": "w", "query": "Mirror displays"})
        assert ws.receive_json()["code"] == "watch_unavailable"
        assert ask(ws, "after", NARRATOR_Q)["done"]["citations"]


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message, code",
    [
        ("this is not json", "bad_json"),
        ("[1, 2, 3]", "bad_json"),
        (json.dumps({"type": "explode", "id": "x"}), "unknown_type"),
        (json.dumps({"id": "x", "question": "hi"}), "unknown_type"),
        (json.dumps({"type": "ask", "id": "x"}), "bad_request"),
        (json.dumps({"type": "ask", "question": "where?"}), "bad_request"),
        (json.dumps({"type": "ask", "id": "x", "question": "where?", "strategy": "magic"}), "bad_request"),
        (json.dumps({"type": "ask", "id": "x", "question": "where?", "time_range": [9, 3]}), "bad_request"),
        (json.dumps({"type": "ask", "id": "x", "question": "a" * 2000}), "question_too_long"),
        (json.dumps({"type": "ask", "id": "x", "question": "where?", "k": 10000}), "k_out_of_range"),
        (json.dumps({"type": "ask", "id": "x", "question": "where?", "k": 0}), "k_out_of_range"),
        (json.dumps({"type": "ask", "id": "x", "question": "where?", "streams": ["no-such-stream"]}), "unknown_stream"),
        (json.dumps({"type": "cancel", "id": "never-sent"}), "unknown_id"),
        ("x" * (1024 * 1024), "too_large"),
    ],
)
def test_bad_messages_get_an_error_event_and_the_socket_still_answers(client, message, code):
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_text(message)
        event = ws.receive_json()
        assert event["type"] == "error" and event["code"] == code, event
        assert event["message"]
        got = ask(ws, "ok", COMMAND_Q, k=2)
        assert got["error"] is None and got["done"]["text"]


def test_a_binary_frame_and_a_duplicate_id_are_errors_too(client):
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_bytes(b"\x00\xff\x10")
        assert ws.receive_json()["code"] == "bad_json"
        ws.send_json({"type": "ask", "id": "same", "question": NARRATOR_Q})
        ws.send_json({"type": "ask", "id": "same", "question": NARRATOR_Q})
        got = collect(ws, "same")
        errors = [e for e in got["other"] if e["type"] == "error"] + ([got["error"]] if got["error"] else [])
        if got["done"] is not None:  # the duplicate's error may come before or after the first finished
            assert any(e["code"] == "duplicate_id" for e in errors) or ws.receive_json()["code"] == "duplicate_id"


# --- HTTP -------------------------------------------------------------------------------------------------


def test_search_streams_clips_and_thumbnails(client):
    found = client.post("/v1/search", json={"query": "he was not an ill disposed young man", "k": 3})
    assert found.status_code == 200
    moments = found.json()["moments"]
    assert moments[0]["stream_id"] == "narrated_slideshow" and moments[0]["start_s"] < 9.84 and moments[0]["end_s"] > 7.31
    streams = {s["stream_id"]: s for s in client.get("/v1/streams").json()["streams"]}
    assert {"narrated_slideshow", "movie-hello", "display-dual-monitors", "bikes", "moviepy_timecode_example"} <= set(streams)
    assert streams["narrated_slideshow"]["media_url"] == "/v1/streams/narrated_slideshow/media"
    media = client.get(streams["narrated_slideshow"]["media_url"], headers={"Range": "bytes=0-99"})
    assert media.status_code == 206 and len(media.content) == 100
    clip = client.get(f"/v1/clips/{moments[0]['clip_id']}").json()
    assert clip["stream_id"] == "narrated_slideshow" and clip["words"] and "speech" in clip["modalities"]
    image = client.get(moments[0]["thumbnail_url"])
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    assert client.get("/v1/clips/not-a-clip").status_code == 404


def test_search_rejects_bad_bodies_with_json_errors(client):
    cases = [
        (b"{not json", 400, "bad_json"),
        (json.dumps({"k": 3}).encode(), 400, "bad_request"),
        (json.dumps({"query": "x", "k": 999}).encode(), 400, "k_out_of_range"),
        (json.dumps({"query": "x", "streams": ["nope"]}).encode(), 404, "unknown_stream"),
        (json.dumps({"query": "x" * 200_000}).encode(), 413, "too_large"),
    ]
    for body, status, code in cases:
        response = client.post("/v1/search", content=body, headers={"content-type": "application/json"})
        assert response.status_code == status and response.json()["error"]["code"] == code, (body[:40], response.text)


def test_health_readiness_metrics_and_openapi(client):
    assert client.get("/healthz").json() == {"ok": True}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["clips"] > 30
    client.post("/v1/search", json={"query": "slide"})
    metrics = client.get("/metrics").text
    for name in ("streammm_request_seconds_bucket", "streammm_clips_stored", "streammm_ws_connections", "streammm_pipeline_lag_seconds"):
        assert name in metrics
    assert 'streammm_request_seconds_count{stage="search"}' in metrics
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/search", "/v1/streams", "/v1/clips/{clip_id}", "/v1/clips/{clip_id}/thumbnail.jpg", "/healthz", "/readyz", "/metrics"} <= set(paths)
    assert "requestBody" in paths["/v1/search"]["post"]
    body = paths["/v1/search"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["strategy"]["enum"] == list(STRATEGIES)
    assert client.get("/v1/config").json() == {"strategies": list(STRATEGIES), "default_strategy": "hybrid"}


# --- auth -------------------------------------------------------------------------------------------------


def test_no_token_is_refused_everywhere(secured):
    assert secured.get("/v1/streams").status_code == 401
    assert secured.get("/v1/config").status_code == 401
    assert secured.post("/v1/search", json={"query": "x"}).status_code == 401
    assert secured.get("/v1/streams", headers={"Authorization": "Bearer wrong-token-123"}).status_code == 401
    assert secured.get("/healthz").status_code == 200
    for url in ("/v1/ws", "/v1/ws?token=wrong-token-123"):
        with secured.websocket_connect(url) as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
        assert closed.value.code == 4401


def test_a_token_for_one_stream_never_sees_another(secured):
    a = {"Authorization": f"Bearer {TOKEN_A}"}
    everything = {"Authorization": f"Bearer {TOKEN_ALL}"}
    assert [s["stream_id"] for s in secured.get("/v1/streams", headers=a).json()["streams"]] == ["narrated_slideshow"]
    assert len(secured.get("/v1/streams", headers=everything).json()["streams"]) >= 5

    # the command is typed in movie-hello: token A gets no moment of it (under qa.min_relevance, none at all)
    found = secured.post("/v1/search", json={"query": COMMAND_Q, "k": 10}, headers=a).json()["moments"]
    assert {m["stream_id"] for m in found} <= {"narrated_slideshow"}
    found = secured.post("/v1/search", json={"query": "a red motorcycle", "k": 10}, headers=a).json()["moments"]
    assert found and {m["stream_id"] for m in found} == {"narrated_slideshow"}
    assert secured.post("/v1/search", json={"query": "x", "streams": ["movie-hello"]}, headers=a).status_code == 404

    other = secured.post("/v1/search", json={"query": COMMAND_Q, "streams": ["movie-hello"]}, headers=everything).json()["moments"][0]
    assert secured.get(f"/v1/clips/{other['clip_id']}", headers=a).status_code == 404
    assert secured.get(f"/v1/clips/{other['clip_id']}?token={TOKEN_A}").status_code == 404
    assert secured.get(other["thumbnail_url"], headers=a).status_code == 404
    assert secured.get(other["thumbnail_url"], headers=everything).status_code == 200
    assert secured.get("/v1/streams/movie-hello/media", headers=a).status_code == 404

    with secured.websocket_connect(f"/v1/ws?token={TOKEN_A}") as ws:
        got = ask(ws, "a1", COMMAND_Q, k=10)
        assert {m["stream_id"] for m in got["moments"]} <= {"narrated_slideshow"}  # none at all under qa.min_relevance
        assert all(c["stream_id"] == "narrated_slideshow" for c in got["done"]["citations"])
        got = ask(ws, "a2", COMMAND_Q, streams=["movie-hello"])
        assert got["error"]["code"] == "unknown_stream"
