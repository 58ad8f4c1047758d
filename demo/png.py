"""A minimal PNG encoder (8-bit RGB, no filtering), so the demo renderer needs only the standard library."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_png(width: int, height: int, rows: Iterable[bytes]) -> bytes:
    """PNG bytes for ``height`` rows of ``width`` RGB pixels (3 bytes each)."""
    compressor = zlib.compressobj(6)
    data = bytearray()
    count = 0
    for row in rows:
        if len(row) != 3 * width:
            raise ValueError(f"row {count} has {len(row)} bytes, expected {3 * width}")
        data += compressor.compress(b"\x00" + row)  # filter type 0: the row as is
        count += 1
    if count != height:
        raise ValueError(f"got {count} rows, expected {height}")
    data += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", bytes(data)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
