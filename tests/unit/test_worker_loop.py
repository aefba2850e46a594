"""How the worker loop treats one record's failure (no broker needed: the loop's per-record step)."""

import asyncio

from streammm.bus.codec import decode_dead_letter, decode_segment
from streammm.bus.kafka import InMessage, _handle
from streammm.errors import StreammmError

MESSAGE = InMessage("streammm.segments.v1", 2, 41, "cam", b"not a streammm message")


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


def test_retriable_errors_are_retried_and_an_unexpected_error_is_dead_lettered():
    assert asyncio.run(_handle(Flaky(failures=1), MESSAGE, "dlq", "align-0")) == ["ok"]
    (out,) = asyncio.run(_handle(Buggy(), MESSAGE, "dlq", "ocr-0"))
    assert "unexpected KeyError" in decode_dead_letter(out.value).reason
