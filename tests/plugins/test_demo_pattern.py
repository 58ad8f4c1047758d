"""The demo renderer writes valid PNG files, reports like Blender, and refuses bad arguments."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from renderq.demo.pattern import STEPS, main, pattern_rows
from renderq.demo.png import SIGNATURE, encode_png


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the decompressed image data, checking every chunk's CRC."""
    assert data.startswith(SIGNATURE)
    pos, chunks = len(SIGNATURE), []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + payload), kind
        chunks.append((kind, payload))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour) == (8, 2)
    return width, height, zlib.decompress(chunks[1][1])


def test_writes_a_valid_png_per_frame(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r" / "f_{frame:03d}.png"
    assert main(["--frames", "1,12", "--output", str(out), "--width", "40", "--height", "30",
                 "--seconds-per-frame", "0"]) == 0  # fmt: skip
    images = []
    for frame in (1, 12):
        width, height, raw = read_png((tmp_path / "r" / f"f_{frame:03d}.png").read_bytes())
        assert (width, height) == (40, 30)
        assert len(raw) == 30 * (1 + 3 * 40)
        images.append(raw)
    assert images[0] != images[1], "the pattern moves with the frame"
    assert not list((tmp_path / "r").glob(".*")), "no partial files are left behind"


def test_reports_frames_samples_and_saved_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--frames", "3", "--output", str(tmp_path / "{frame}.png"), "--width", "8", "--height", "8",
          "--seconds-per-frame", "0"])  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    samples = [line for line in lines if line.startswith("Fra:3 ")]
    assert [s.rsplit("| ", 1)[1] for s in samples] == [f"Sample {i}/{STEPS}" for i in range(STEPS + 1)]
    assert f"Saved: '{tmp_path / '3.png'}'" in lines


def test_rows_in_bands_make_the_whole_image() -> None:
    whole = list(pattern_rows(50, 20, 7))
    assert list(pattern_rows(50, 20, 7, 0, 8)) + list(pattern_rows(50, 20, 7, 8, 20)) == whole
    assert all(len(row) == 150 for row in whole)


def test_encoder_refuses_rows_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="row 0 has 5 bytes, expected 6"):
        encode_png(2, 1, [b"\x00" * 5])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "1-abc"], "Error: --frames: '1-abc' is not a frame"),
        (["--frames", "1", "--width", "0"], "Error: --width must be from 1 to 8192, not 0"),
        (["--frames", "1", "--seconds-per-frame", "-1"], "Error: --seconds-per-frame must be 0 or more"),
        (["--frames", "1", "--output", "same.png"], "Error: --output must contain {frame}"),
        (["--frames", "1", "--output", "f{frame:q}.png"], "Error: --output: Unknown format code 'q'"),
        (["--output", "f{frame}.png"], "Error: the following arguments are required: --frames"),
    ],
)
def test_bad_arguments_exit_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if "--output" not in args:
        args = [*args, "--output", "f{frame}.png"]
    with pytest.raises(SystemExit) as caught:
        main(args)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_unwritable_output_exits_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["--frames", "4", "--output", str(blocker / "{frame}.png"), "--seconds-per-frame", "0"])
    assert code == 1
    assert f"Error: cannot write frame 4 to {blocker / '4.png'}: " in capsys.readouterr().err
