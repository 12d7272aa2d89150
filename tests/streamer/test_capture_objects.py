"""The line handling shared by local files and S3 objects (streamer/sources/files.py)."""

from __future__ import annotations

import gzip
import io

from driftstream.streamer.sources.files import LineReader, capture_order


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
