"""The preview's PNG decoder reads what renderers write, byte-exact, and refuses the rest in words.

The files come from three writers: the demo renderer (RGB, unfiltered), a small encoder
here that applies each of the five filters on purpose (every colour type and depth),
and Blender's libpng, which picks filters adaptively the way real renders arrive.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from renderq.demo.pattern import pattern_rows, render_frame
from renderq.tui.png import Image, PngError, decode_png, downscale

from ..system.harness import require

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    to_a, to_b, to_c = abs(p - a), abs(p - b), abs(p - c)
    return a if to_a <= to_b and to_a <= to_c else b if to_b <= to_c else c


def filtered(row: bytes, prior: bytes, kind: int, bpp: int) -> bytes:
    """``row`` encoded with filter ``kind`` (the encoder's direction of PNG spec section 9)."""
    out = bytearray()
    for i, x in enumerate(row):
        left = row[i - bpp] if i >= bpp else 0
        up_left = prior[i - bpp] if i >= bpp else 0
        predictor = [0, left, prior[i], (left + prior[i]) // 2, paeth(left, prior[i], up_left)][kind]
        out.append((x - predictor) & 0xFF)
    return bytes([kind]) + bytes(out)


def encode(
    width: int,
    height: int,
    colour: int,
    depth: int,
    rows: Sequence[bytes],
    *,
    palette: bytes = b"",
    trns: bytes = b"",
    interlace: int = 0,
) -> bytes:
    """A PNG of packed ``rows``, row y filtered with filter type y % 5."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    bpp = max(1, channels * depth // 8)
    prior = bytes(len(rows[0]))
    data = bytearray()
    for y, row in enumerate(rows):
        data += filtered(row, prior, y % 5, bpp)
        prior = row
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    extra = (chunk(b"PLTE", palette) if palette else b"") + (chunk(b"tRNS", trns) if trns else b"")
    # Two IDAT chunks: a decoder must join them.
    compressed = zlib.compress(bytes(data))
    half = len(compressed) // 2
    idat = chunk(b"IDAT", compressed[:half]) + chunk(b"IDAT", compressed[half:])
    return (
        SIGNATURE
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"tEXt", b"Software\0test")
        + idat
        + chunk(b"IEND", b"")
    )


def random_rows(width: int, height: int, bytes_per_pixel: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(width * bytes_per_pixel) for _ in range(height)]


def test_a_demo_render_decodes_to_the_pattern_it_drew(tmp_path: Path) -> None:
    path = tmp_path / "frame_0007.png"
    render_frame(7, path, 64, 36, 0.0)
    image = decode_png(path.read_bytes())
    assert (image.width, image.height) == (64, 36)
    assert image.rows == list(pattern_rows(64, 36, 7))


@pytest.mark.parametrize("width", [1, 7, 33])
def test_rgb_with_every_filter_type_decodes_byte_exact(width: int) -> None:
    rows = random_rows(width, 11, 3, seed=width)
    image = decode_png(encode(width, 11, 2, 8, rows))
    assert image == Image(width, 11, rows)


def test_opaque_rgba_decodes_to_its_colours() -> None:
    rows = random_rows(9, 10, 4, seed=1)
    opaque = [bytes(b if i % 4 != 3 else 255 for i, b in enumerate(row)) for row in rows]
    image = decode_png(encode(9, 10, 6, 8, opaque))
    assert image.rows == [bytes(b for i, b in enumerate(row) if i % 4 != 3) for row in opaque]


def test_rgba_alpha_is_composited_over_the_background() -> None:
    row = bytes([200, 100, 50, 255, 200, 100, 50, 0, 200, 100, 50, 128])
    image = decode_png(encode(3, 1, 6, 8, [row]), background=(0, 0, 255))
    assert image.rows == [bytes([200, 100, 50, 0, 0, 255, 100, 50, 152])]


def test_sixteen_bit_rgba_and_grey_keep_their_high_bytes() -> None:
    rgba = [bytes([0x12, 0x34, 0xAB, 0xCD, 0xFF, 0x00, 0xFF, 0xFF])]
    assert decode_png(encode(1, 1, 6, 16, rgba)).rows == [bytes([0x12, 0xAB, 0xFF])]
    grey = random_rows(5, 6, 2, seed=3)
    image = decode_png(encode(5, 6, 0, 16, grey))
    assert image.rows == [bytes(v for v in row[0::2] for _ in range(3)) for row in grey]


def test_grey_and_grey_alpha() -> None:
    grey = random_rows(6, 7, 1, seed=4)
    assert decode_png(encode(6, 7, 0, 8, grey)).rows == [bytes(v for v in r for _ in range(3)) for r in grey]
    grey_alpha = [bytes([10, 255, 90, 0])]
    assert decode_png(encode(2, 1, 4, 8, grey_alpha)).rows == [bytes([10, 10, 10, 0, 0, 0])]


def test_low_bit_greyscale_is_scaled_to_full_range() -> None:
    # 1-bit: 0b10110000 -> white, black, white, white, black (5 pixels, padding ignored).
    image = decode_png(encode(5, 1, 0, 1, [bytes([0b10110000])]))
    assert image.rows == [bytes([255] * 3 + [0] * 3 + [255] * 6 + [0] * 3)]


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_palette_images_look_up_their_colours_with_trns_alpha(depth: int) -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)][: 2**depth]
    palette = bytes(v for colour in colours for v in colour)
    width = 8 // depth * 2 + 1  # rows end mid-byte
    indices = [[(x + y) % len(colours) for x in range(width)] for y in range(6)]
    per_byte = 8 // depth
    packed = []
    for line in indices:
        padded = line + [0] * (-len(line) % per_byte)
        packed.append(
            bytes(
                sum(v << (8 - depth * (k + 1)) for k, v in enumerate(padded[i : i + per_byte]))
                for i in range(0, len(padded), per_byte)
            )
        )
    image = decode_png(encode(width, 6, 3, depth, packed, palette=palette, trns=b"\xff\x00"))
    shown = [*colours]
    shown[1] = (0, 0, 0)  # fully transparent over the black background
    assert image.rows == [bytes(v for i in line for v in shown[i]) for line in indices]


def test_refusals_say_what_is_wrong() -> None:
    rows = random_rows(4, 4, 3, seed=5)
    good = encode(4, 4, 2, 8, rows)
    cases = {
        b"GIF89a" + bytes(40): "PNG signature",
        encode(4, 4, 2, 8, rows, interlace=1): "interlaced",
        good[:60]: "truncated",
        good[:40] + bytes([good[40] ^ 1]) + good[41:]: "checksum",
    }
    for data, words in cases.items():
        with pytest.raises(PngError, match=words):
            decode_png(data)
    with pytest.raises(PngError, match="at most 10 pixels"):
        decode_png(good, max_pixels=10)


def test_box_downscale_averages_what_each_pixel_covers() -> None:
    black, white = bytes(3), bytes([255] * 3)
    image = Image(4, 2, [black + white + black + black, white + white + black + black])
    assert downscale(image, 2, 1) == Image(2, 1, [bytes([191] * 3) + bytes(3)])
    assert downscale(image, 100, 100) is image
    wide = downscale(Image(300, 2, [os.urandom(900)] * 2), 7, 1)
    assert (wide.width, wide.height, len(wide.rows[0])) == (7, 1, 21)


BLENDER_WRITE = """
import bpy, sys
out = sys.argv[sys.argv.index("--") + 1]
scene = bpy.context.scene
scene.view_settings.view_transform = "Standard"  # the colours as given, no filmic curve
w, h = 24, 16
for mode, alpha in (("RGB", False), ("RGBA", True)):
    for depth in ("8", "16"):
        image = bpy.data.images.new(f"t{mode}{depth}", w, h, alpha=alpha)
        pixels = []
        for y in range(h):  # Blender stores the bottom row first
            for x in range(w):
                pixels += [x / (w - 1), (h - 1 - y) / (h - 1), 0.25, 1.0 if x < w // 2 else 0.5]
        image.pixels = pixels
        settings = scene.render.image_settings
        settings.file_format = "PNG"
        settings.color_mode = mode
        settings.color_depth = depth
        image.save_render(f"{out}/{mode}{depth}.png", scene=scene)
"""


@pytest.mark.blender
def test_pngs_written_by_blender_decode_to_what_it_was_given(tmp_path: Path) -> None:
    blender = shutil.which("blender")
    require(blender is not None, "blender (Debian package blender)")
    assert blender is not None
    subprocess.run(
        [blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", BLENDER_WRITE,
         "--", str(tmp_path)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    for name in ("RGB8", "RGB16", "RGBA8", "RGBA16"):
        data = (tmp_path / f"{name}.png").read_bytes()
        assert data[25] == (6 if name.startswith("RGBA") else 2), f"{name} has colour type {data[25]}"
        image = decode_png(data, background=(0, 0, 0))
        assert (image.width, image.height) == (24, 16)
        for y, row in enumerate(image.rows):
            for x in range(24):
                alpha = 1.0 if x < 12 else 0.5  # Blender multiplies it in even for RGB
                expected = [round(255 * x / 23 * alpha), round(255 * y / 15 * alpha), round(64 * alpha)]
                got = list(row[3 * x : 3 * x + 3])
                assert all(abs(g - e) <= 3 for g, e in zip(got, expected, strict=True)), (name, x, y, got)
