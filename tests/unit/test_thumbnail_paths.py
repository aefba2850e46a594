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
    with TestClient(app) as test_client:
        yield test_client
    store.close()


def test_a_thumbnail_is_served_only_from_the_thumbnails_folder(client):
    ok = client.get(f"/v1/clips/{clip_id('cam', 0.0, 'p')}/thumbnail.jpg")
    assert ok.status_code == 200 and ok.content == b"\xff\xd8jpeg"
    for start in (2.0, 4.0):
        response = client.get(f"/v1/clips/{clip_id('cam', start, 'p')}/thumbnail.jpg")
        assert response.status_code == 404 and b"not a thumbnail" not in response.content
