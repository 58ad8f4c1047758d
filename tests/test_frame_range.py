"""Properties of the frame-range grammar, and the sentences it answers mistakes with."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from renderq.frame_range import MAX_FRAMES, FrameRangeError, chunk, format_frames, parse_frames

frame_numbers = st.integers(min_value=0, max_value=100_000)
frame_lists = st.lists(frame_numbers, max_size=200)


@given(st.lists(frame_numbers, min_size=1, max_size=200))
def test_formatted_frames_parse_back_to_the_same_sorted_set(frames: list[int]) -> None:
    assert parse_frames(format_frames(frames)) == sorted(set(frames))


@given(frame_lists)
def test_formatting_is_canonical(frames: list[int]) -> None:
    text = format_frames(frames)
    assert format_frames(parse_frames(text) if text else []) == text


@given(st.lists(frame_numbers, min_size=1, max_size=50))
def test_frames_come_in_the_order_written_without_duplicates(frames: list[int]) -> None:
    assert parse_frames(",".join(map(str, frames))) == list(dict.fromkeys(frames))


@given(frame_numbers, st.integers(min_value=0, max_value=500), st.integers(min_value=1, max_value=50))
def test_a_stepped_range_is_pythons_range(first: int, length: int, step: int) -> None:
    last = first + length
    assert parse_frames(f"{first}-{last}x{step}") == list(range(first, last + 1, step))


def test_spaces_are_ignored() -> None:
    assert parse_frames(" 1 - 3 , 7 ") == [1, 2, 3, 7]


def test_overlapping_parts_keep_each_frame_once_at_its_first_place() -> None:
    assert parse_frames("5-7,1-6") == [5, 6, 7, 1, 2, 3, 4]


def test_format_joins_runs() -> None:
    assert format_frames([10, 9, 1, 2, 3, 7, 9]) == "1-3,7,9-10"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("1-abc", "'1-abc' is not a frame, a range (1-100) or a stepped range (1-100x5)"),
        ("5-1", "'5-1' ends before it starts"),
        ("1-10x0", "'1-10x0' has a step of 0; the step must be 1 or more"),
        ("", "the frame range is empty; write it like 1-100, 1-100x5 or 1,3,7-9"),
        ("   ", "the frame range is empty"),
        ("1,,2", "'' is not a frame"),
        ("-5", "'-5' is not a frame"),
    ],
)
def test_mistakes_are_refused_with_a_sentence(spec: str, message: str) -> None:
    with pytest.raises(FrameRangeError) as caught:
        parse_frames(spec)
    assert message in str(caught.value)


def test_a_billion_frames_are_refused_without_building_them() -> None:
    with pytest.raises(FrameRangeError, match=f"more than {MAX_FRAMES:,} frames"):
        parse_frames("1-1000000000")


def test_the_limit_counts_every_part() -> None:
    assert len(parse_frames("1-10,11-20", limit=20)) == 20
    with pytest.raises(FrameRangeError, match="more than 20 frames"):
        parse_frames("1-10,11-21", limit=20)


@given(frame_lists, st.integers(min_value=1, max_value=30))
def test_chunks_keep_every_frame_in_order_and_fill_all_but_the_last(frames: list[int], size: int) -> None:
    chunks = chunk(frames, size)
    assert [f for c in chunks for f in c] == frames
    assert all(len(c) == size for c in chunks[:-1])
    assert all(1 <= len(c) <= size for c in chunks)


def test_chunk_size_below_one_is_refused() -> None:
    with pytest.raises(FrameRangeError, match="frames per task must be 1 or more, not 0"):
        chunk([1, 2], 0)
