"""A clip's thumbnail name comes from the store, so it is data, not a path: a row naming `/etc/passwd` or
`../../x` never makes the server send a file from outside its thumbnails folder (no models: a stand-in
text encoder; the store is a real LanceDB store in a temporary directory)."""

from __future__ import annotations

import numpy as np
import pytest
from starlette.testclient import TestClient

from streammm.config import load_settings
from streammm.records import Clip, clip_id
from streammm.server.app import create_app
from streammm.store.embedded import LanceDbClipStore

DIM = 4


class Encoder:
    dim = DIM

    def encode(self, texts):
        return np.tile(np.eye(DIM, dtype=np.float32)[0], (len(texts), 1))


@pytest.fixture
def client(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not a thumbnail")
    (tmp_path / "data" / "thumbnails").mkdir(parents=True)
    good = clip_id("cam", 0.0, "p")
    (tmp_path / "data" / "thumbnails" / f"{good}.jpg").write_bytes(b"\xff\xd8jpeg")
    store = LanceDbClipStore(tmp_path / "data" / "clips", DIM)
    vector = {"visual": np.eye(DIM, dtype=np.float32)[0]}
    store.upsert([
        Clip(good, "cam", 0.0, 4.0, "p", vectors=vector, thumbnail=f"{good}.jpg"),
        Clip(clip_id("cam", 2.0, "p"), "cam", 2.0, 6.0, "p", vectors=vector, thumbnail=str(secret)),
        Clip(clip_id("cam", 4.0, "p"), "cam", 4.0, 8.0, "p", vectors=vector, thumbnail="../../secret.txt"),
    ])
    app = create_app(load_settings(env={}), store, Encoder(), data_dir=tmp_path / "data")
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client
    store.close()


def test_a_thumbnail_is_served_only_from_the_thumbnails_folder(client):
    ok = client.get(f"/v1/clips/{clip_id('cam', 0.0, 'p')}/thumbnail.jpg")
    assert ok.status_code == 200 and ok.content == b"\xff\xd8jpeg"
    for start in (2.0, 4.0):
        response = client.get(f"/v1/clips/{clip_id('cam', start, 'p')}/thumbnail.jpg")
        assert response.status_code == 404 and b"not a thumbnail" not in response.content


def test_a_foreign_host_name_is_refused_while_auth_is_off(client):
    """DNS rebinding: a page whose name resolves to 127.0.0.1 asks with its own Host header."""
    assert client.get("/v1/streams", headers={"Host": "attacker.example"}).status_code == 421
    assert client.get("/v1/streams", headers={"Host": "attacker.example:8000"}).json()["error"]["code"] == "host_not_allowed"
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "127.0.0.1"):
        assert client.get("/v1/streams", headers={"Host": host}).status_code == 200, host


def test_a_websocket_from_another_origin_is_refused_and_the_own_origin_is_served(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/v1/ws", headers={"Origin": "http://evil.example", "Host": "127.0.0.1:8000"}) as ws:
            ws.receive_json()
    for headers in ({"Origin": "http://127.0.0.1:8000", "Host": "127.0.0.1:8000"}, {"Host": "127.0.0.1:8000"}):
        with client.websocket_connect("/v1/ws", headers=headers) as ws:
            ws.send_json({"type": "cancel", "id": "nothing"})
            assert ws.receive_json()["type"] == "error"  # the socket is served: an unknown id gets its error


def test_origin_and_host_rules():
    from streammm.server.origins import host_allowed, host_name, origin_allowed

    assert host_name("[::1]:8000") == "[::1]" and host_name("LOCALHOST:80") == "localhost" and host_name("::1") == "::1"
    assert host_allowed("evil.example", auth_enabled=True, allowed_hosts=())
    assert not host_allowed("evil.example", auth_enabled=False, allowed_hosts=())
    assert host_allowed("media.lan:8000", auth_enabled=False, allowed_hosts=("media.lan",))
    assert origin_allowed(None, "127.0.0.1:8000", ()) and origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", ())
    assert not origin_allowed("http://127.0.0.1:8001", "127.0.0.1:8000", ())
    assert origin_allowed("https://app.example", "10.0.0.5:8000", ("https://app.example/",))
    assert not origin_allowed("null", "127.0.0.1:8000", ())
