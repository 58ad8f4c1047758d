"""A PNG's pixels for tests that check what a renderer drew: OpenImageIO reads the file,
so the checks do not rest on a decoder of our own."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import OpenImageIO as oiio


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[bytes]
    """``height`` rows of ``width`` RGB pixels, 3 bytes each (alpha composited over black)."""


def decode_png(data: bytes) -> Image:
    """The 8-bit RGB pixels of the PNG in ``data`` (OpenImageIO reads files, not memory)."""
    with tempfile.TemporaryDirectory(prefix="renderq-png-") as folder:
        path = Path(folder) / "image.png"
        path.write_bytes(data)
        source = oiio.ImageBuf(str(path))  # alpha comes associated: colour over black
        spec = source.spec()
        assert not source.has_error, source.geterror()
        rgb = oiio.ImageBufAlgo.channels(source, (0, 1, 2) if spec.nchannels >= 3 else (0, 0, 0))
        pixels = rgb.get_pixels(oiio.UINT8)
        assert pixels is not None, rgb.geterror()
    return Image(spec.width, spec.height, [bytes(row.reshape(-1)) for row in pixels])
