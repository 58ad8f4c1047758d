"""Thumbnails made with OpenImageIO itself: linear light turned sRGB, sizes, non-images."""

from __future__ import annotations

from pathlib import Path

import OpenImageIO as oiio
import pytest

from renderq.agent.thumbnails import MAX_PER_FRAME, frame_thumbnails, thumbnail_png
from renderq.v1 import resources_pb2 as pb


def _image(path: Path, width: int, height: int, value: float, dtype: oiio.BASETYPE) -> Path:
    image = oiio.ImageBuf(oiio.ImageSpec(width, height, 4, oiio.FLOAT))
    oiio.ImageBufAlgo.fill(image, [value, value, value, 1.0])
    assert image.write(str(path), dtype), image.geterror()
    return path


def _decoded(png: bytes, tmp_path: Path) -> oiio.ImageBuf:
    path = tmp_path / "decoded.png"
    path.write_bytes(png)
    image = oiio.ImageBuf(str(path))
    assert image.spec().format.basetype == oiio.UINT8
    return image


def test_linear_exr_becomes_srgb(tmp_path: Path) -> None:
    exr = _image(tmp_path / "frame.exr", 1024, 512, 0.18, oiio.HALF)
    png = thumbnail_png(exr)
    assert png is not None and png.startswith(b"\x89PNG")
    image = _decoded(png, tmp_path)
    assert (image.spec().width, image.spec().height, image.spec().nchannels) == (256, 128, 3)
    red, green, blue = (round(c * 255) for c in image.getpixel(10, 10))
    assert abs(red - 118) <= 1 and red == green == blue  # 0.18 linear is mid-grey, not dark 46


@pytest.mark.parametrize("name", ["frame.png", "frame.tif", "frame.jpg"])
def test_display_referred_images_keep_their_values(tmp_path: Path, name: str) -> None:
    png = thumbnail_png(_image(tmp_path / name, 300, 600, 0.5, oiio.UINT8), size=64)
    assert png is not None
    image = _decoded(png, tmp_path)
    assert (image.spec().width, image.spec().height) == (32, 64)
    assert abs(round(image.getpixel(5, 5)[0] * 255) - 128) <= 2


def test_small_images_are_not_enlarged(tmp_path: Path) -> None:
    png = thumbnail_png(_image(tmp_path / "tiny.png", 20, 10, 0.5, oiio.UINT8))
    assert png is not None
    assert _decoded(png, tmp_path).spec().width == 20


def test_files_that_are_no_image_have_none(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n" * 100)
    assert thumbnail_png(text) is None
    fake = tmp_path / "fake.exr"
    fake.write_bytes(b"\x00" * 4096)
    assert thumbnail_png(fake) is None
    assert thumbnail_png(tmp_path / "missing.png") is None


def test_a_frame_gets_at_most_a_few_thumbnails_of_its_images(tmp_path: Path) -> None:
    images = [_image(tmp_path / f"pass{i}.png", 8, 8, 0.2, oiio.UINT8) for i in range(MAX_PER_FRAME + 2)]
    movie = tmp_path / "take.mov"
    movie.write_bytes(b"\x00" * 64)
    outputs = [pb.OutputFile(path=str(p)) for p in (movie, *images)]
    thumbnails = frame_thumbnails(outputs)
    assert [t.path for t in thumbnails] == [str(p) for p in images[:MAX_PER_FRAME]]
    assert all(t.png.startswith(b"\x89PNG") for t in thumbnails)


def test_noisy_images_fit_the_size_limit_or_have_none(tmp_path: Path) -> None:
    noise = oiio.ImageBuf(oiio.ImageSpec(512, 512, 3, oiio.FLOAT))
    oiio.ImageBufAlgo.noise(noise, "uniform", 0.0, 1.0, False)
    noise.write(str(tmp_path / "noise.exr"), "half")
    png = thumbnail_png(tmp_path / "noise.exr")
    assert png is None or len(png) <= 64 << 10


def test_linear_colours_keep_their_rec709_primaries(tmp_path: Path) -> None:
    exr = oiio.ImageBuf(oiio.ImageSpec(4, 4, 3, oiio.FLOAT))
    oiio.ImageBufAlgo.fill(exr, [0.07, 0.109375, 0.18375])
    exr.write(str(tmp_path / "blue.exr"), "half")
    png = thumbnail_png(tmp_path / "blue.exr")
    assert png is not None
    shown = [round(c * 255) for c in _decoded(png, tmp_path).getpixel(1, 1)]
    assert all(abs(a - b) <= 1 for a, b in zip(shown, [75, 93, 119], strict=True)), shown
