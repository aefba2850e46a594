"""The versioned wire format of every message streammm puts on Kafka.

A value is `SMM` + a version byte + a 4-byte big-endian header length + a JSON header + raw payload
bytes (the media of a segment). Vectors travel as base64 little-endian float32.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from streammm import wire
from streammm.errors import StreammmError
from streammm.records import Clip, FrameObservation, IngestRun, Observation, OcrLine, Segment, Word

MAGIC = b"SMM"
VERSION = 1
_PREFIX = struct.Struct(">3sBI")


class CodecError(StreammmError):
    """A message is not in streammm's wire format (or is of a newer version)."""


@dataclass(frozen=True)
class Heartbeat:
    """A worker saying it is alive: its role (a modality, or "align"), its name, and how many records of
    its input it has not handled yet (its consumer lag, as the broker reported it)."""

    role: str
    worker: str
    sent_at: float
    lag: int


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    source_topic: str
    partition: int
    offset: int
    stream_id: str
    payload: bytes


def pack(kind: str, header: dict[str, Any], payload: bytes = b"") -> bytes:
    body = json.dumps({"type": kind, **header}, separators=(",", ":"), ensure_ascii=False).encode()
    return _PREFIX.pack(MAGIC, VERSION, len(body)) + body + payload


def unpack(value: bytes | None) -> tuple[str, dict[str, Any], bytes]:
    if not value or len(value) < _PREFIX.size:
        raise CodecError("empty or short message")
    magic, version, length = _PREFIX.unpack_from(value)
    if magic != MAGIC:
        raise CodecError("not a streammm message (bad magic)")
    if version != VERSION:
        raise CodecError(f"unsupported message version {version} (this build reads {VERSION})")
    end = _PREFIX.size + length
    try:
        header = json.loads(value[_PREFIX.size : end])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"malformed message header: {exc}") from None
    if not isinstance(header, dict) or "type" not in header:
        raise CodecError("message header has no type")
    return header.pop("type"), header, value[end:]


def encode_segment(segment: Segment, published_at: float, *, ref: str | None = None) -> bytes:
    """A segment message; with `ref`, the media bytes are in that file (a claim check), not in the message."""
    header = {
        "stream_id": segment.stream_id,
        "seq": segment.seq,
        "start_s": segment.start_s,
        "duration_s": segment.duration_s,
        "container": segment.container,
        "last": segment.last,
        "published_at": published_at,
        "run": _run_json(segment.run),
        "video_codec": segment.video_codec,
        "audio_codec": segment.audio_codec,
        "reencoded": segment.reencoded,
    }
    if segment.captions:
        header["captions"] = [_line_json(c) for c in segment.captions]
    if ref is not None:
        return pack("segment", {**header, "ref": ref})
    return pack("segment", header, segment.data)


def decode_segment(value: bytes, *, load_media: bool = True) -> tuple[Segment, float]:
    """The segment and when it was published; without `load_media`, a claim-checked segment's media file is
    not read (its `data` is empty)."""
    kind, h, payload = unpack(value)
    _expect(kind, "segment")
    if "ref" in h:
        payload = _claimed(h["ref"]) if load_media else b""
    try:
        segment = Segment(
            stream_id=str(h["stream_id"]),
            seq=int(h["seq"]),
            start_s=float(h["start_s"]),
            duration_s=float(h["duration_s"]),
            container=str(h["container"]),
            data=payload,
            last=bool(h.get("last", False)),
            run=_run(h.get("run")),
            video_codec=str(h.get("video_codec", "")),  # absent in records from older publishers
            audio_codec=str(h.get("audio_codec", "")),
            reencoded=bool(h.get("reencoded", False)),
            captions=tuple(_line(c) for c in h.get("captions", ())),
        )
        return segment, float(h.get("published_at", 0.0))
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"malformed segment header: {exc!r}") from None


def _line_json(line: OcrLine) -> list[Any]:
    fields: list[Any] = [line.start_s, line.end_s, line.text, line.score, line.x, line.y]
    return fields + [[list(p) for p in line.pressed]] if line.pressed else fields


def _line(item: Any) -> OcrLine:
    start_s, end_s, text, score, x, y, *more = item  # a 7th field, where the line was pressed (older writers: none)
    pressed = tuple((float(a), float(b)) for a, b in more[0]) if more else ()
    return OcrLine(float(start_s), float(end_s), str(text), float(score), float(x), float(y), pressed=pressed)


def _claimed(ref: object) -> bytes:
    """The media bytes a claim-checked segment refers to."""
    try:
        with open(str(ref), "rb") as file:
            return file.read()
    except OSError as exc:
        raise CodecError(f"the segment's media file {ref} cannot be read: {exc.strerror or exc}") from None


def encode_observation(obs: Observation) -> bytes:
    header: dict[str, Any] = {
        "modality": obs.modality,
        "stream_id": obs.stream_id,
        "seq": obs.seq,
        "start_s": obs.start_s,
        "end_s": obs.end_s,
        "last": obs.last,
        "published_at": obs.published_at,
        "run": _run_json(obs.run),
        "frames": [
            {"t_s": f.t_s, "tags": list(f.tags), "vector": encode_vector(f.vector), "shot_change": f.shot_change, "fps": f.sample_fps, "cut_s": f.cut_s}
            for f in obs.frames
        ],
        "thumbnails": [base64.b64encode(t).decode() for t in obs.thumbnails],
        "words": [[w.start_s, w.end_s, w.text, w.probability] for w in obs.words],
        "ocr": [_line_json(o) for o in obs.ocr],
    }
    return pack("obs", header)


def decode_observation(value: bytes) -> Observation:
    kind, h, _ = unpack(value)
    _expect(kind, "obs")
    try:
        return Observation(
            modality=str(h["modality"]),
            stream_id=str(h["stream_id"]),
            seq=int(h["seq"]),
            start_s=float(h["start_s"]),
            end_s=float(h["end_s"]),
            last=bool(h["last"]),
            published_at=float(h.get("published_at", 0.0)),
            run=_run(h.get("run")),
            frames=tuple(
                FrameObservation(
                    float(f["t_s"]), tuple(f["tags"]), decode_vector(f["vector"]), bool(f["shot_change"]), float(f.get("fps", 0.0)),
                    None if f.get("cut_s") is None else float(f["cut_s"]),
                )
                for f in h["frames"]
            ),
            thumbnails=tuple(base64.b64decode(t) for t in h["thumbnails"]),
            words=tuple(Word(float(a), float(b), str(t), float(p)) for a, b, t, p in h["words"]),
            ocr=tuple(_line(o) for o in h["ocr"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"malformed observation: {exc!r}") from None


def encode_clip_event(clip: Clip, stored_at: float) -> bytes:
    """A finished clip as announced on the clips topic: its fields (streammm.wire), its vectors, its
    thumbnail's file name and when it was stored."""
    header = {
        **wire.clip_json(clip),
        "thumbnail": clip.thumbnail,
        "stored_at": stored_at,
        "vectors": {name: encode_vector(v) for name, v in clip.vectors.items()},
    }
    return pack("clip", header)


def decode_clip_event(value: bytes) -> tuple[Clip, float]:
    """Events of older builds, without words, on-screen lines or frame times, decode with those empty."""
    kind, h, _ = unpack(value)
    _expect(kind, "clip")
    try:
        vectors = {name: decode_vector(v) for name, v in h["vectors"].items()}
        clip = wire.clip_from_json(h, vectors=vectors, thumbnail=str(h.get("thumbnail", "")))
        return clip, float(h["stored_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"malformed clip event: {exc!r}") from None


def encode_dead_letter(letter: DeadLetter) -> bytes:
    header = {
        "reason": letter.reason,
        "source_topic": letter.source_topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "stream_id": letter.stream_id,
    }
    return pack("dead_letter", header, letter.payload)


def decode_dead_letter(value: bytes) -> DeadLetter:
    kind, h, payload = unpack(value)
    _expect(kind, "dead_letter")
    return DeadLetter(h["reason"], h["source_topic"], int(h["partition"]), int(h["offset"]), h["stream_id"], payload)


def encode_heartbeat(beat: Heartbeat) -> bytes:
    return pack("heartbeat", {"role": beat.role, "worker": beat.worker, "sent_at": beat.sent_at, "lag": beat.lag})


def decode_heartbeat(value: bytes) -> Heartbeat:
    kind, h, _ = unpack(value)
    _expect(kind, "heartbeat")
    try:
        return Heartbeat(str(h["role"]), str(h["worker"]), float(h["sent_at"]), int(h["lag"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CodecError(f"malformed heartbeat: {exc!r}") from None


def _run_json(run: IngestRun) -> dict[str, Any]:
    header = {"started_at": run.started_at, "live": run.live, "has_video": run.has_video, "has_audio": run.has_audio, "paced": run.paced}
    if run.has_captions:  # only then: every segment message carries this header
        header["has_captions"] = True
    return header


def _run(data: Any) -> IngestRun:
    """An ingest run from a header; messages of older builds have none (a run at time 0 with every modality)."""
    if not isinstance(data, dict):
        return IngestRun()
    return IngestRun(
        started_at=float(data.get("started_at", 0.0)),
        live=bool(data.get("live", False)),
        has_video=bool(data.get("has_video", True)),
        has_audio=bool(data.get("has_audio", True)),
        paced=bool(data.get("paced", False)),
        has_captions=bool(data.get("has_captions", False)),
    )


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").copy()


def _expect(kind: str, wanted: str) -> None:
    if kind != wanted:
        raise CodecError(f"expected a {wanted} message, got {kind!r}")
