"""Sizes, durations and bars as people type and read them."""

from __future__ import annotations

import pytest

from renderq.client.units import format_seconds, format_size, parse_size, progress_bar


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("8GiB", 8 * 1024**3),
        ("512MiB", 512 * 1024**2),
        ("512 mib", 512 * 1024**2),
        ("1.5G", round(1.5 * 1024**3)),
        ("500MB", 500_000_000),
        ("4KiB", 4096),
        ("2TiB", 2 * 1024**4),
        ("7B", 7),
    ],
)
def test_sizes_accept_binary_and_decimal_units_and_plain_bytes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "8 parsecs", "-1GiB", "1,5GiB", "8GiB extra"])
def test_a_size_that_is_not_one_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a size.*8GiB"):
        parse_size(text)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (int(1.2 * 1024**3), "1.2 GiB"),
        (512 * 1024**2, "512 MiB"),
    ],
)
def test_sizes_read_with_binary_units(size: int, text: str) -> None:
    assert format_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0.4s"), (42, "42s"), (65, "1m 05s"), (7380, "2h 03m"), (273600, "3d 04h")],
)
def test_durations_read_with_two_units_at_most(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_progress_bar_shows_fill_and_percent() -> None:
    assert progress_bar(0.5) == "[#####-----]  50%"
    assert progress_bar(1.7) == "[##########] 100%"
