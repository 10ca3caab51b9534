"""text_lines: the streamed form of decode_text (what trace --rules reads a dump with)."""

from __future__ import annotations

import io

import pytest

from sim.model.errors import SimError
from sim.scenario.inputfile import decode_text, text_lines


def test_streamed_lines_are_the_whole_texts_lines() -> None:
    """Line breaks of every kind split as str.splitlines splits the whole decoded text."""
    data = "a\r\nb\n\nc\x0cd\u2028e\nf".encode()
    assert list(text_lines(io.BytesIO(data), "f", "w")) == \
        decode_text(data, "f", "w").splitlines()


@pytest.mark.parametrize("data, words", [
    (b"ok\nbad \xe9\n", "f:2: not UTF-8 text: byte 0xe9 at offset 7 (w)"),
    (b"ok\n\x00\n", "f:2: a binary file, not text: NUL byte at offset 3 (w)"),
])
def test_streamed_errors_name_line_and_offset_like_decode_text(data: bytes, words: str) -> None:
    """A non-UTF-8 or NUL byte gets decode_text's message (file, line, byte offset)."""
    with pytest.raises(SimError) as streamed:
        list(text_lines(io.BytesIO(data), "f", "w"))
    with pytest.raises(SimError) as whole:
        decode_text(data, "f", "w")
    assert str(streamed.value) == str(whole.value) == words
