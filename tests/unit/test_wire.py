"""One JSON form of a Clip's fields, used by the clips topic and the HTTP API; old clip events still decode."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np

from streammm import wire
from streammm.bus.codec import decode_clip_event, encode_clip_event, pack
from streammm.records import Clip, OcrLine, Word
from streammm.server.protocol import clip_json

CLIP = Clip(
    clip_id="c1",
    stream_id="lobby",
    start_s=4.0,
    end_s=8.0,
    profile="p",
    transcript="hello there",
    ocr_text="EXIT",
    tags=("person",),
    words=(Word(4.25, 4.5, "hello"), Word(4.5, 4.875, "there")),
    ocr_lines=(OcrLine(4.0, 7.5, "EXIT", score=0.9, x=0.5, y=0.1),),
    frame_times=(4.0, 6.0),
    vectors={"visual": np.array([1, 0, 0], np.float32), "speech": np.array([0, 0.6, 0.8], np.float32)},
    thumbnail="c1.jpg",
    expected=("visual", "speech", "ocr"),
    pending=("ocr",),
)


def same_fields(a: Clip, b: Clip) -> None:
    assert wire.clip_json(a) == wire.clip_json(b)


def test_a_clips_fields_survive_json():
    data = json.loads(json.dumps(wire.clip_json(CLIP)))
    assert data["words"] == [{"start_s": 4.25, "end_s": 4.5, "text": "hello"}, {"start_s": 4.5, "end_s": 4.875, "text": "there"}]
    assert data["ocr_lines"] == [{"start_s": 4.0, "end_s": 7.5, "text": "EXIT"}]
    same_fields(wire.clip_from_json(data), CLIP)


def test_a_clip_event_carries_the_fields_vectors_thumbnail_and_when_it_was_stored():
    clip, stored_at = decode_clip_event(encode_clip_event(CLIP, 123.5))
    same_fields(clip, CLIP)
    assert stored_at == 123.5 and clip.thumbnail == "c1.jpg" and clip.modalities == ("visual", "speech")
    np.testing.assert_array_equal(clip.vectors["speech"], CLIP.vectors["speech"])


def test_a_clip_event_of_an_older_build_still_decodes():
    old = {  # what encode_clip_event wrote before words, on-screen lines and frame times were added
        "clip_id": "c1", "stream_id": "lobby", "start_s": 4.0, "end_s": 8.0, "profile": "p", "transcript": "hello there",
        "ocr_text": "EXIT", "tags": ["person"], "thumbnail": "c1.jpg", "stored_at": 9.0, "expected": ["visual"], "pending": [],
        "vectors": {},
    }
    clip, stored_at = decode_clip_event(pack("clip", old))
    assert (clip.clip_id, clip.transcript, clip.tags, clip.thumbnail, stored_at) == ("c1", "hello there", ("person",), "c1.jpg", 9.0)
    assert clip.words == () and clip.ocr_lines == () and clip.frame_times == ()


def test_the_http_clip_is_the_wire_clip_plus_modalities_and_thumbnail_url():
    assert clip_json(CLIP) == {**wire.clip_json(CLIP), "modalities": ["visual", "speech"], "thumbnail_url": "/v1/clips/c1/thumbnail.jpg"}


def test_wire_sits_at_the_bottom_layer():
    tree = ast.parse((Path(wire.__file__)).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert {m for m in imported if m and m.startswith("streammm")} <= {"streammm.records"}
