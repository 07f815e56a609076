"""MLLP framing: garbage between frames dropped, truncated frames ignored, oversize and slow frames refused."""

import asyncio

import pytest

from maison.formats.hl7v2.framing import FrameTooLarge, frame, read_frame, unframe


def _reader(data: bytes, limit: int = 2**16) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_frames_and_garbage_between_them():
    async def read_all():
        reader = _reader(b"noise" + frame(b"MSH|1") + b"\r\n\x00junk" + frame(b"MSH|2") + b"\x0bMSH|cut")
        return [await read_frame(reader, 5), await read_frame(reader, 5), await read_frame(reader, 5)]

    assert asyncio.run(read_all()) == [b"MSH|1", b"MSH|2", None]  # the truncated third never read


def test_a_restarted_frame_is_taken_from_its_last_start():
    assert unframe(b"\x0bMSH|half\x0bMSH|whole\x1c\r") == b"MSH|whole"
    assert unframe(b"no start\x1c\r") is None


def test_a_frame_past_the_limit_is_refused_with_its_head():
    async def read():
        return await read_frame(_reader(frame(b"MSH|^~\\&|GAM|" + b"x" * 10_000), limit=1000), 5)

    with pytest.raises(FrameTooLarge) as too_large:
        asyncio.run(read())
    assert too_large.value.head.startswith(b"\x0bMSH|^~\\&|GAM|")
    assert len(too_large.value.head) <= 4096


def test_a_frame_not_complete_in_time_times_out():
    async def read():
        reader = asyncio.StreamReader()
        reader.feed_data(b"\x0bMSH|slow")  # and nothing more
        return await read_frame(reader, 0.2)

    with pytest.raises(TimeoutError):
        asyncio.run(read())
