"""The container of learned-codec bitstreams: a few header bytes, then the entropy-coded strings.

Layout: format version (1 byte), image height and width, the number of strings and the length of
every string but the last (unsigned LEB128 varints, 1-3 bytes each), then the strings back to back.
For one image of 768x512 with two strings the header is 7-9 bytes (the first string's length
takes 1-3; at most 0.00018 bpp); it is counted in the rate like everything else in the stream.
"""

from __future__ import annotations

FORMAT_VERSION = 1


class StreamError(ValueError):
    """Bytes that are not a stream of this format."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data):
            raise StreamError("truncated stream header")
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            return value, position
        shift += 7


def pack(height: int, width: int, strings: list[bytes]) -> bytes:
    """Header + strings; ``strings`` are the per-image entropy-coded strings, in model order."""
    header = bytes([FORMAT_VERSION]) + _varint(height) + _varint(width) + _varint(len(strings))
    header += b"".join(_varint(len(s)) for s in strings[:-1])
    return header + b"".join(strings)


def unpack(data: bytes) -> tuple[int, int, list[bytes]]:
    """Inverse of :func:`pack`: (height, width, strings)."""
    if not data or data[0] != FORMAT_VERSION:
        raise StreamError(f"not an rdpbench learned-codec stream (version byte {data[:1]!r})")
    height, position = _read_varint(data, 1)
    width, position = _read_varint(data, position)
    count, position = _read_varint(data, position)
    lengths = []
    for _ in range(count - 1):
        length, position = _read_varint(data, position)
        lengths.append(length)
    if position + sum(lengths) > len(data):
        raise StreamError("truncated stream")
    strings = []
    for length in lengths:
        strings.append(data[position:position + length])
        position += length
    strings.append(data[position:])
    return height, width, strings
