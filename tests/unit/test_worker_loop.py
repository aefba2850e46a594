"""How the worker loop treats one record's failure (no broker needed: the loop's per-record step)."""

import asyncio

from streammm.bus.codec import decode_dead_letter, decode_segment
from streammm.bus.handling import Backoff, InMessage, Retry, handle_record, tick_safely
from streammm.errors import StreammmError

MESSAGE = InMessage("streammm.segments.v1", 2, 41, "cam", b"not a streammm message")
BACKOFF = Backoff(0.2, 10.0)


def _handle(handler, message, dlq, name, attempt=1, max_message_bytes=16 * 1024 * 1024):
    return handle_record(handler, message, dlq_topic=dlq, name=name, attempt=attempt, backoff=BACKOFF, max_message_bytes=max_message_bytes)


class Decoding:
    async def handle(self, message):
        decode_segment(message.value)  # raises CodecError
        return []


class Flaky:
    def __init__(self, failures: int):
        self.failures = failures

    async def handle(self, message):
        if self.failures:
            self.failures -= 1
            raise StreammmError("store busy", retriable=True)
        return ["ok"]


class Buggy:
    async def handle(self, message):
        raise KeyError("a bug")


def test_a_malformed_message_is_dead_lettered_with_its_reason_and_payload():
    (out,) = asyncio.run(_handle(Decoding(), MESSAGE, "streammm.dlq.v1", "vision-0"))
    letter = decode_dead_letter(out.value)
    assert out.topic == "streammm.dlq.v1" and out.key == "cam"
    assert letter.reason.startswith("vision-0: ") and "bad magic" in letter.reason
    assert (letter.source_topic, letter.partition, letter.offset, letter.payload) == (MESSAGE.topic, 2, 41, MESSAGE.value)


def test_a_retriable_error_asks_for_a_retry_with_growing_backoff_and_is_never_dead_lettered():
    handler = Flaky(failures=60)
    delays = []
    for attempt in range(1, 61):
        result = asyncio.run(_handle(handler, MESSAGE, "dlq", "align-0", attempt=attempt))
        assert isinstance(result, Retry) and "store busy" in result.reason
        delays.append(result.delay_s)
    assert delays[:4] == [0.2, 0.4, 0.8, 1.6] and max(delays) == 10.0 and delays[-1] == 10.0
    assert asyncio.run(_handle(handler, MESSAGE, "dlq", "align-0", attempt=61)) == ["ok"]


def test_an_unexpected_error_is_dead_lettered():
    (out,) = asyncio.run(_handle(Buggy(), MESSAGE, "dlq", "ocr-0"))
    assert "unexpected KeyError" in decode_dead_letter(out.value).reason


def test_the_dead_letter_keeps_the_whole_payload_up_to_the_message_size():
    big = InMessage("streammm.segments.v1", 0, 7, "cam", b"x" * (3 * 1024 * 1024))
    (out,) = asyncio.run(_handle(Decoding(), big, "dlq", "vision-0"))
    assert decode_dead_letter(out.value).payload == big.value
    (cut,) = asyncio.run(_handle(Decoding(), big, "dlq", "vision-0", max_message_bytes=2 * 1024 * 1024))
    assert len(cut.value) <= 2 * 1024 * 1024 and big.value.startswith(decode_dead_letter(cut.value).payload)


class Ticking:
    def __init__(self, error):
        self.error = error

    async def tick(self):
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        return ["tock"]


def test_a_failing_tick_is_retried_after_a_backoff_instead_of_killing_the_worker():
    for error in (StreammmError("store down", retriable=True), StreammmError("bad state"), KeyError("a bug")):
        handler = Ticking(error)
        result = asyncio.run(tick_safely(handler, name="align-0", attempt=3, backoff=BACKOFF))
        assert isinstance(result, Retry) and result.delay_s == 0.8
        assert asyncio.run(tick_safely(handler, name="align-0", attempt=1, backoff=BACKOFF)) == ["tock"]


def test_a_claim_checked_segment_reads_its_media_from_the_spool_and_a_lost_file_is_a_clear_error(tmp_path):
    from streammm.bus.codec import CodecError, encode_segment
    from streammm.ingest.spool import Spool
    from streammm.records import IngestRun, Segment

    spool = Spool(tmp_path / "spool")
    segment = Segment("cam/1", 3, 6.0, 2.0, "matroska", b"\x1a\x45\xdf\xa3 media", run=IngestRun(started_at=5.5, has_audio=False))
    value = encode_segment(segment, published_at=9.0, ref=str(spool.write(segment)))
    assert len(value) < 400 and b"media" not in value, "only the reference travels"
    got, published_at = decode_segment(value)
    assert (got.data, got.seq, got.start_s, got.run, published_at) == (segment.data, 3, 6.0, segment.run, 9.0)
    assert spool.size_bytes() == len(segment.data)
    spool.discard("cam/1")
    assert spool.size_bytes() == 0
    try:
        decode_segment(value)
    except CodecError as exc:
        assert "cannot be read" in str(exc)
    else:
        raise AssertionError("a segment whose media file is gone must not decode")


def test_the_spool_keeps_each_stream_in_a_folder_of_its_own_inside_it(tmp_path):
    """A stream id named the spool folder as it was: '..' put a stream's media above the spool, where
    discarding it (once its clips were complete) would have removed the data folder, clips and all; 'a b'
    and 'a_b' shared one folder, so discarding one dropped the other's media."""
    from streammm.ingest.spool import Spool
    from streammm.records import Segment

    spool = Spool(tmp_path / "data" / "spool")
    store = tmp_path / "data" / "clips.lance"
    store.parent.mkdir(parents=True)
    store.write_text("every stored clip")
    ids = ["..", ".", "a b", "a_b", "../x", "日本語"]
    paths = {sid: spool.write(Segment(sid, 0, 0.0, 2.0, "matroska", sid.encode())) for sid in ids}
    assert all(spool.folder.resolve() in path.resolve().parents for path in paths.values())
    assert len({path.parent for path in paths.values()}) == len(ids)
    for sid in ("..", ".", "a b"):
        spool.discard(sid)
    assert store.read_text() == "every stored clip"
    assert sorted(p.read_bytes().decode() for p in spool.folder.rglob("*.seg")) == sorted(["a_b", "../x", "日本語"])
