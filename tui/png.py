"""A small PNG decoder and a box-filter downscale, for frame previews in the terminal.

Pure Python (zlib and struct), so the TUI needs no imaging library on an operator's
laptop. It reads what renderers write: greyscale, grey+alpha, RGB, RGBA and palette
images, 8 or 16 bits per sample (16 is reduced to 8, which a terminal cannot tell
apart) and 1 to 8 bits for greyscale and palette. Interlaced (Adam7) files are refused
with a clear error: renderers do not write them, and a preview is not worth the code.
Alpha is composited over a background colour, since a terminal cell has no alpha.
It is slow next to libpng (a megapixel takes a second or two), so callers decode in a
thread.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 50_000_000
"""Most pixels decoded: beyond this a pure-Python decode takes minutes and gigabytes."""

CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""Samples per pixel of each PNG colour type."""
DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
"""The bit depths the PNG specification allows for each colour type."""

RGB = tuple[int, int, int]


class PngError(ValueError):
    """The data is not a PNG this decoder can read; the message says why, in words."""


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[bytes]
    """``height`` rows of ``width`` RGB pixels, 3 bytes each."""


@dataclass(frozen=True)
class _Header:
    width: int
    height: int
    depth: int
    colour: int

    @property
    def bits_per_pixel(self) -> int:
        return CHANNELS[self.colour] * self.depth

    @property
    def stride(self) -> int:
        """Bytes of one row, without its filter byte."""
        return (self.width * self.bits_per_pixel + 7) // 8


def decode_png(data: bytes, background: RGB = (0, 0, 0), max_pixels: int = MAX_PIXELS) -> Image:
    """The image in ``data``, with any alpha composited over ``background``."""
    header, palette, alpha, compressed = _read_chunks(data)
    if header.width * header.height > max_pixels:
        raise PngError(
            f"the image is {header.width}x{header.height}; at most {max_pixels:,} pixels can be decoded"
        )
    expected = header.height * (1 + header.stride)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, expected)
    except zlib.error as e:
        raise PngError(f"the image data is corrupt: {e}") from None
    if len(raw) < expected:
        raise PngError(f"the image data ends early: {len(raw):,} of {expected:,} bytes")
    rows = _unfilter(raw, header)
    if header.colour == 3:
        table = _palette_table(palette, alpha, background)
        return Image(header.width, header.height, [_lookup(_samples(r, header), table) for r in rows])
    return Image(
        header.width, header.height, [_to_rgb(_samples(r, header), header, background) for r in rows]
    )


def _read_chunks(data: bytes) -> tuple[_Header, bytes, bytes, bytes]:
    """The header, palette, palette alpha (tRNS) and the joined image data."""
    if not data.startswith(SIGNATURE):
        raise PngError("it does not start with the PNG signature")
    pos = len(SIGNATURE)
    header: _Header | None = None
    palette = alpha = b""
    idat = bytearray()
    while True:
        if pos + 8 > len(data):
            raise PngError("the file ends before its IEND chunk (it may be truncated)")
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(crc) < 4:
            raise PngError(f"the {kind.decode('latin-1')} chunk is cut short (the file may be truncated)")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise PngError(f"the {kind.decode('latin-1')} chunk is corrupt (its checksum does not match)")
        pos += 12 + length
        if header is None and kind != b"IHDR":
            raise PngError("the first chunk is not IHDR")
        if kind == b"IHDR":
            header = _header(body)
        elif kind == b"PLTE":
            palette = body
        elif kind == b"tRNS":
            alpha = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    assert header is not None
    if header.colour == 3 and not palette:
        raise PngError("the image uses a palette but has no PLTE chunk")
    return header, palette, alpha, bytes(idat)


def _header(body: bytes) -> _Header:
    if len(body) != 13:
        raise PngError(f"the IHDR chunk has {len(body)} bytes, not 13")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if not width or not height:
        raise PngError(f"the image is {width}x{height}: it has no pixels")
    if colour not in CHANNELS:
        raise PngError(f"colour type {colour} is not one PNG defines (0, 2, 3, 4 or 6)")
    if depth not in DEPTHS[colour]:
        raise PngError(f"bit depth {depth} is not allowed with colour type {colour}")
    if compression != 0 or filtering != 0:
        raise PngError(f"compression method {compression} or filter method {filtering} is unknown")
    if interlace:
        raise PngError("the image is interlaced (Adam7); only non-interlaced PNGs can be previewed")
    return _Header(width, height, depth, colour)


def _unfilter(raw: bytes, header: _Header) -> list[bytes]:
    """Each row with its filter undone (PNG spec, section 9)."""
    stride = header.stride
    bpp = max(1, header.bits_per_pixel // 8)
    prior = bytearray(stride)
    rows: list[bytes] = []
    for y in range(header.height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prior, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prior[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prior[i]
                c = prior[i - bpp] if i >= bpp else 0
                p = a + b - c
                to_a, to_b, to_c = abs(p - a), abs(p - b), abs(p - c)
                predictor = a if to_a <= to_b and to_a <= to_c else b if to_b <= to_c else c
                line[i] = (line[i] + predictor) & 0xFF
        elif kind != 0:
            raise PngError(f"row {y} has filter type {kind}; PNG defines 0 to 4")
        rows.append(bytes(line))
        prior = line
    return rows


def _samples(row: bytes, header: _Header) -> bytes:
    """One byte per sample: 16-bit samples keep their high byte, 1-, 2- and 4-bit ones are
    unpacked (greyscale scaled up to 0-255, palette indices as they are)."""
    if header.depth == 16:
        return row[0::2]
    if header.depth == 8:
        return row
    depth = header.depth
    mask = (1 << depth) - 1
    scale = 255 // mask if header.colour == 0 else 1
    per_byte = 8 // depth
    shifts = [8 - depth * (k + 1) for k in range(per_byte)]
    unpacked = bytes(((byte >> shift) & mask) * scale for byte in row for shift in shifts)
    return unpacked[: header.width]


def _to_rgb(samples: bytes, header: _Header, background: RGB) -> bytes:
    if header.colour == 2:
        return bytes(samples)
    out = bytearray(3 * header.width)
    if header.colour == 0:
        for c in range(3):
            out[c::3] = samples
    elif header.colour == 4:
        grey, alpha = samples[0::2], samples[1::2]
        for c in range(3):
            out[c::3] = _over(grey, alpha, background[c])
    else:  # 6: RGBA
        alpha = samples[3::4]
        for c in range(3):
            out[c::3] = _over(samples[c::4], alpha, background[c])
    return bytes(out)


def _over(channel: bytes, alpha: bytes, background: int) -> bytes:
    return bytes((v * a + background * (255 - a) + 127) // 255 for v, a in zip(channel, alpha, strict=True))


def _palette_table(palette: bytes, alpha: bytes, background: RGB) -> list[bytes]:
    """Each palette index as its 3 RGB bytes, composited over ``background`` by its tRNS alpha."""
    table: list[bytes] = []
    for index in range(len(palette) // 3):
        a = alpha[index] if index < len(alpha) else 255
        colour = palette[3 * index : 3 * index + 3]
        table.append(bytes((v * a + background[c] * (255 - a) + 127) // 255 for c, v in enumerate(colour)))
    return table


def _lookup(indices: bytes, table: list[bytes]) -> bytes:
    try:
        return b"".join(table[i] for i in indices)
    except IndexError:
        raise PngError(f"a pixel uses a colour beyond the palette's {len(table)}") from None


def downscale(image: Image, width: int, height: int) -> Image:
    """``image`` shrunk to at most ``width`` x ``height`` with a box filter: each new pixel is
    the mean of the pixels it covers, so fine detail blends instead of flickering. Never
    enlarges; each side is at least 1."""
    width = max(1, min(width, image.width))
    height = max(1, min(height, image.height))
    if (width, height) == (image.width, image.height):
        return image
    columns = [(x * image.width // width, (x + 1) * image.width // width) for x in range(width)]
    rows: list[bytes] = []
    for y in range(height):
        top, bottom = y * image.height // height, (y + 1) * image.height // height
        sums = [0] * (3 * width)
        for source in image.rows[top:bottom]:
            for x, (left, right) in enumerate(columns):
                for c in range(3):
                    sums[3 * x + c] += sum(source[3 * left + c : 3 * right : 3])
        area = [(bottom - top) * (right - left) for left, right in columns]
        rows.append(bytes((total + area[i // 3] // 2) // area[i // 3] for i, total in enumerate(sums)))
    return Image(width, height, rows)
