"""The server's pure rules: message parsing and limits, token access, watch matching."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streammm.config import AuthConfig, ServerConfig, TokenConfig
from streammm.errors import ConfigError
from streammm.records import Clip
from streammm.server.auth import Access, Authenticator, is_loopback
from streammm.server.protocol import AskMessage, RequestError, WatchMessage, allowed_streams, parse_client_message
from streammm.server.watch import Watch, match

LIMITS = ServerConfig(max_message_kb=1, max_question_chars=50, max_k=20)


def code_of(raw: str) -> tuple[str, str | None]:
    with pytest.raises(RequestError) as caught:
        parse_client_message(raw, LIMITS)
    return caught.value.code, caught.value.request_id


def test_valid_messages_parse_into_typed_requests():
    ask = parse_client_message(json.dumps({"type": "ask", "id": "a", "question": "q?", "k": 3, "time_range": [1, 2], "extra": 1}), LIMITS)
    assert isinstance(ask, AskMessage) and ask.k == 3 and ask.time_range == (1.0, 2.0)
    watch = parse_client_message(json.dumps({"type": "watch", "id": "w", "query": "x", "threshold": 0.3}), LIMITS)
    assert isinstance(watch, WatchMessage) and watch.threshold == 0.3


def test_each_kind_of_bad_message_has_its_code_and_keeps_a_readable_id():
    assert code_of("{") == ("bad_json", None)
    assert code_of('"just a string"') == ("bad_json", None)
    assert code_of(json.dumps({"type": "nope", "id": "7"})) == ("unknown_type", "7")
    assert code_of(json.dumps({"type": "ask", "id": "8"})) == ("bad_request", "8")
    assert code_of(json.dumps({"type": "ask", "id": "8", "question": "   "})) == ("bad_request", "8")
    assert code_of(json.dumps({"type": "ask", "id": 5, "question": "q"})) == ("bad_request", None)
    assert code_of(json.dumps({"type": "ask", "id": "9", "question": "q" * 51})) == ("question_too_long", "9")
    assert code_of(json.dumps({"type": "ask", "id": "9", "question": "q", "k": 21})) == ("k_out_of_range", "9")
    assert code_of(json.dumps({"type": "watch", "id": "9", "query": "q", "threshold": 3})) == ("bad_request", "9")
    assert code_of("x" * 1025) == ("too_large", None)


def test_a_token_sees_only_its_streams_and_a_forbidden_stream_reads_as_unknown():
    a = Access("a", frozenset({"lobby"}))
    assert allowed_streams(None, a, {"lobby", "stage"}, "r") == ("lobby",)
    assert allowed_streams(["lobby"], a, {"lobby", "stage"}, "r") == ("lobby",)
    for requested in (["stage"], ["nowhere"]):
        with pytest.raises(RequestError) as caught:
            allowed_streams(requested, a, {"lobby", "stage"}, "r")
        assert caught.value.code == "unknown_stream" and caught.value.status == 404
    assert allowed_streams(None, Access("all"), {"lobby"}, None) is None
    assert allowed_streams(["not-started-yet"], Access("all"), None, None) == ("not-started-yet",)  # a watch


def test_auth_is_off_on_loopback_by_default_and_needs_tokens_elsewhere():
    assert not Authenticator(AuthConfig(), "127.0.0.1").enabled
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    with pytest.raises(ConfigError):
        Authenticator(AuthConfig(), "0.0.0.0")
    auth = Authenticator(AuthConfig(tokens=[TokenConfig(token="secret-one", streams=["lobby"]), TokenConfig(token="secret-two")]), "0.0.0.0")
    assert auth.access({}, {}) is None
    assert auth.access({"authorization": "Bearer wrong-one"}, {}) is None
    assert auth.access({"authorization": "Bearer secret-one"}, {}).streams == frozenset({"lobby"})
    assert auth.access({}, {"token": "secret-two"}).streams is None
    assert auth.access({"authorization": "Basic secret-two"}, {}) is None


def unit(values) -> np.ndarray:
    v = np.asarray(values, np.float32)
    return v / np.linalg.norm(v)


def test_a_watch_matches_on_every_query_word_or_on_vector_similarity():
    watch = Watch(None, "w", "Mirror displays", unit([1, 0, 0]), None, Access("all"), 0.8, deliver=None)  # type: ignore[arg-type]
    shown = Clip("c1", "s", 24.0, 28.0, "p", ocr_text="Displays\nMirror displays", vectors={"ocr": unit([0, 1, 0])})
    assert match(watch, shown) == (0.0, "text")
    close = Clip("c2", "s", 0.0, 4.0, "p", vectors={"visual": unit([1, 0.2, 0])})
    assert match(watch, close)[1] == "vector"
    far = Clip("c3", "s", 0.0, 4.0, "p", ocr_text="Mirror", vectors={"visual": unit([0, 0, 1])})
    assert match(watch, far) is None
    only = Watch(None, "w2", "Mirror displays", unit([1, 0, 0]), ("other",), Access("all"), 0.8, deliver=None)  # type: ignore[arg-type]
    assert not only.wants("s") and only.wants("other")
    assert not Watch(None, "w3", "x", unit([1, 0, 0]), None, Access("a", frozenset({"x"})), 0.8, deliver=None).wants("s")  # type: ignore[arg-type]


def test_a_clip_completed_later_matches_a_watch_once_when_the_match_first_holds():
    import asyncio
    from dataclasses import replace

    from streammm.server.watch import WatchRegistry

    sent: list[dict] = []

    def deliver(event: dict) -> bool:
        sent.append(event)
        return True

    registry = WatchRegistry()
    registry.add(Watch("socket", "w", "Mirror displays", unit([1, 0, 0]), None, Access("all"), 0.99, deliver=deliver))
    provisional = Clip("c1", "s", 24.0, 28.0, "p", expected=("visual", "ocr"), pending=("ocr",), vectors={"visual": unit([0, 1, 0])})
    completed = replace(provisional, pending=(), ocr_text="Mirror displays")
    again = replace(completed, transcript="re-announced after a restart")
    counts = [asyncio.run(registry.on_clip(clip, 1.0)) for clip in (provisional, completed, again)]
    assert counts == [0, 1, 0], "no match before the text arrives, one when it does, none for the same clip again"
    assert [e["moment"]["start_s"] for e in sent] == [24.0]
    other = replace(completed, clip_id="c2", start_s=26.0, end_s=30.0)
    assert asyncio.run(registry.on_clip(other, 2.0)) == 1


# --- the strategies come from config.STRATEGIES ----------------------------------------------------------


def test_every_configured_strategy_is_accepted_and_any_other_is_a_bad_request():
    from streammm.config import STRATEGIES
    from streammm.server.protocol import parse_search_body

    for strategy in STRATEGIES:
        ask = parse_client_message(json.dumps({"type": "ask", "id": "s", "question": "q", "strategy": strategy}), LIMITS)
        assert isinstance(ask, AskMessage) and ask.strategy == strategy
        assert parse_search_body(json.dumps({"query": "q", "strategy": strategy}).encode(), LIMITS).strategy == strategy
    assert code_of(json.dumps({"type": "ask", "id": "s", "question": "q", "strategy": "magic"})) == ("bad_request", "s")
    with pytest.raises(RequestError) as caught:
        parse_search_body(json.dumps({"query": "q", "strategy": "magic"}).encode(), LIMITS)
    assert caught.value.code == "bad_request" and caught.value.status == 400 and "hybrid" in caught.value.message


class _NoStore:
    """These routes never reach the store."""


class _NoEncoder:
    dim = 4

    def encode(self, texts):
        raise AssertionError("these routes encode nothing")


def test_openapi_and_the_config_route_list_the_configured_strategies():
    from starlette.testclient import TestClient

    from streammm.config import STRATEGIES, load_settings
    from streammm.server.app import create_app

    settings = load_settings(env={}, overrides={"qa.strategy": "joint"})
    with TestClient(create_app(settings, _NoStore(), _NoEncoder(), data_dir=Path("/nonexistent")), base_url="http://127.0.0.1:8000") as client:  # type: ignore[arg-type]  (a loopback Host)
        paths = client.get("/openapi.json").json()["paths"]
        strategy = paths["/v1/search"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["strategy"]
        assert strategy == {"type": "string", "enum": list(STRATEGIES), "default": "joint"}
        assert "/v1/config" in paths and "responses" in paths["/v1/search"]["post"]
        assert client.get("/v1/config").json() == {"strategies": list(STRATEGIES), "default_strategy": "joint"}


def test_the_page_and_the_docs_take_the_strategies_from_the_server():
    from streammm.config import STRATEGIES

    root = Path(__file__).resolve().parents[2]
    page = (root / "streammm" / "server" / "static" / "index.html").read_text()
    options = re.findall(r'<option value="([^"]*)"', page[page.index('id="strategy"') :].split("</select>")[0])
    assert options == [""], "the page fills the strategy select from GET /v1/config"
    docs = (root / "docs" / "api.md").read_text()
    row = next(line for line in docs.splitlines() if line.startswith("| `ask` |"))
    assert re.findall(r"`(\w+)`", row.split("`strategy`", 1)[1].split(";")[0])[1:] == list(STRATEGIES)


def test_the_app_factory_imports_no_broker_and_no_pipeline():
    code = "import sys, streammm.server.app; print(sorted(m for m in sys.modules if m.startswith(('streammm.bus', 'streammm.pipeline'))))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
