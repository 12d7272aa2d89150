"""The line handling shared by local files and S3 objects (streamer/sources/files.py)."""

from __future__ import annotations

import errno
import gzip
import io
import zlib
from pathlib import Path
from typing import Any

import pytest

from driftstream.streamer.sources.files import FileSource, LineReader, capture_order


def _lines(data: bytes, max_line_bytes: int = 100) -> tuple[list[bytes], int]:
    reader = LineReader(io.BytesIO(data), max_line_bytes)
    out: list[bytes] = []
    while got := reader.readlines(3):
        assert len(got) <= 3
        out.extend(got)
    return out, reader.consumed


def test_plain_lines_blank_ones_and_crlf() -> None:
    data = b"a\r\n\nb\nlast-without-newline"
    lines, consumed = _lines(data)
    assert lines == [b"a", b"", b"b", b"last-without-newline"]
    assert consumed == len(data)


def test_gzip_is_recognised_by_its_magic_number_even_in_several_members() -> None:
    data = gzip.compress(b"one\ntwo\n") + gzip.compress(b"three\n")
    lines, consumed = _lines(data)
    assert lines == [b"one", b"two", b"three"]
    assert consumed == len(data)  # progress counts stored (compressed) bytes


def test_an_oversized_line_is_cut_and_the_next_line_is_intact() -> None:
    data = b"ok\n" + b"x" * 10_000 + b"\nnext\n"
    lines, _ = _lines(gzip.compress(data), max_line_bytes=100)
    assert lines == [b"ok", b"x" * 101, b"next"]


def test_lines_across_chunk_boundaries_and_an_oversized_line_longer_than_a_chunk() -> None:
    # several MiB: lines straddle the 1 MiB read chunks; one line spans three chunks
    normal = [f"record-{i:07d}".encode() * 7 for i in range(60_000)]
    data = b"\n".join([*normal[:30_000], b"y" * 3_500_000, *normal[30_000:]]) + b"\n"
    lines, consumed = _lines(data, max_line_bytes=1000)
    assert lines == [*normal[:30_000], b"y" * 1001, *normal[30_000:]]
    assert consumed == len(data)


def test_time_order_is_the_hour_folders_then_the_path() -> None:
    keys = [
        "ep/AllTraffic/2026/11/01/10/00-a.jsonl",
        "ep/AllTraffic/2026/11/01/09/59-z.jsonl",
        "ep/AllTraffic/2026/10/31/23/30-m.jsonl",
        "ep/AllTraffic/2026/11/01/09/00-b.jsonl",
    ]
    assert sorted(keys, key=capture_order) == [keys[2], keys[3], keys[1], keys[0]]


# -- damaged objects ------------------------------------------------------------------------------


def _content(n: int) -> bytes:
    """n distinct lines of poorly compressible text (several MiB for n = 60_000)."""
    return b"".join(
        f"record {i:07d} {i * 7919 % 1000003:x} {i * i}".encode() + b"\n" for i in range(n)
    )


def _read_all(data: bytes) -> tuple[list[bytes], LineReader]:
    reader = LineReader(io.BytesIO(data), 1000)
    out: list[bytes] = []
    while got := reader.readlines(5000):
        out.extend(got)
    return out, reader


def _decompressible(data: bytes) -> bytes:
    """Everything zlib can recover from the start of a truncated gzip member."""
    return zlib.decompressobj(wbits=31).decompress(data)


def test_a_truncated_gzip_yields_every_whole_line_then_its_damage() -> None:
    content = _content(60_000)
    compressed = gzip.compress(content)
    cut = compressed[: len(compressed) * 3 // 5]
    readable = _decompressible(cut)
    whole = readable[: readable.rindex(b"\n") + 1]
    lines, reader = _read_all(cut)
    # every line the truncated stream still holds, across the 1 MiB chunks, none lost
    assert lines == whole.splitlines()
    assert reader.damage is not None
    assert reader.damage.problem == "truncated gzip data (the stream ends before its end marker)"
    assert reader.damage.line == len(lines) + 1
    assert reader.damage.byte == len(whole)
    assert reader.damage.partial == readable[len(whole) :]
    assert reader.consumed == len(cut)
    assert reader.readlines(10) == []  # stays at its end


def test_a_gzip_cut_inside_its_header_is_damaged_at_line_one() -> None:
    lines, reader = _read_all(gzip.compress(b"a\nb\n")[:6])
    assert lines == []
    assert reader.damage is not None
    assert (reader.damage.line, reader.damage.byte, reader.damage.partial) == (1, 0, b"")


def test_corrupt_deflate_data_keeps_the_lines_before_it() -> None:
    content = _content(40_000)
    compressed = bytearray(gzip.compress(content))
    middle = len(compressed) // 2
    compressed[middle : middle + 64] = b"\xff" * 64
    lines, reader = _read_all(bytes(compressed))
    assert reader.damage is not None
    assert reader.damage.problem == "corrupt gzip data"
    assert 1000 < len(lines) < 40_000
    assert lines[:1000] == content.splitlines()[:1000]
    assert reader.damage.line == len(lines) + 1


def test_a_wrong_checksum_is_damage_after_the_last_line() -> None:
    compressed = bytearray(gzip.compress(b"one\ntwo\n"))
    compressed[-8] ^= 0xFF  # the CRC-32 in the member's trailer
    lines, reader = _read_all(bytes(compressed))
    assert lines == [b"one", b"two"]
    assert reader.damage is not None
    assert reader.damage.problem == "corrupt gzip data"
    assert (reader.damage.line, reader.damage.byte, reader.damage.partial) == (3, 8, b"")


class _FailingRaw(io.RawIOBase):
    """A local file whose storage fails after `good` bytes."""

    def __init__(self, data: bytes, good: int) -> None:
        self._data = data
        self._pos = 0
        self._good = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._good:
            raise OSError(errno.EIO, "Input/output error")
        n = min(len(buffer), self._good - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def test_a_read_error_of_a_plain_file_is_damage_at_the_line_it_broke() -> None:
    data = b"first\nsecond\nthird line is long\nfourth\n"
    reader = LineReader(_FailingRaw(data, good=20), 1000)
    lines: list[bytes] = []
    while got := reader.readlines(2):
        lines.extend(got)
    assert lines == [b"first", b"second"]
    assert reader.damage is not None
    assert reader.damage.problem == "read error (EIO)"
    assert (reader.damage.line, reader.damage.byte, reader.damage.partial) == (3, 13, b"third l")
    assert not reader.damage.compressed


@pytest.mark.parametrize("batch_size", [1, 7, 5000])
def test_a_damaged_file_is_one_line_of_its_batch_and_the_next_file_is_read(
    tmp_path: Path, batch_size: int
) -> None:
    before = [f"a{i}".encode() for i in range(10)]
    broken = [f"b{i}".encode() * 3 for i in range(2000)]
    after = [f"c{i}".encode() for i in range(5)]
    hour = tmp_path / "2026" / "11" / "01"
    (hour / "00").mkdir(parents=True)
    (hour / "01").mkdir()
    (hour / "02").mkdir()
    (hour / "00" / "a.jsonl").write_bytes(b"\n".join(before) + b"\n")
    compressed = gzip.compress(b"\n".join(broken) + b"\n")
    (hour / "01" / "b.jsonl.gz").write_bytes(compressed[: len(compressed) // 2])
    (hour / "02" / "c.jsonl").write_bytes(b"\n".join(after))

    source = FileSource(tmp_path, batch_size=batch_size)
    lines: list[bytes] = []
    damaged: dict[int, str] = {}
    while (batch := source.read(batch_size)) is not None:
        assert batch.first_index == len(lines)
        assert len(batch.lines) <= batch_size
        damaged.update({batch.first_index + i: d for i, d in batch.damaged.items()})
        lines.extend(batch.lines)
    source.close()

    ((at, detail),) = damaged.items()
    readable = at - len(before)
    assert 100 < readable < len(broken)
    assert lines[: len(before)] == before
    assert lines[len(before) : at] == broken[:readable]
    assert broken[readable].startswith(lines[at])  # what was read of the broken line
    assert lines[at + 1 :] == after  # the replay goes on with the next file
    name = str(hour / "01" / "b.jsonl.gz")
    assert detail.startswith(
        f"{name}: truncated gzip data (the stream ends before its end marker) "
        f"at line {readable + 1} (uncompressed byte "
    )
    assert detail.endswith("); the rest of the file is skipped")
