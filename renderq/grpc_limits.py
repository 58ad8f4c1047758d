"""Limits every gRPC channel and server of the farm shares."""

from __future__ import annotations

MAX_MESSAGE_BYTES = 64 << 20
"""The largest message either side sends or takes: pages of 100,000 frames and batches of
agent events fit well within it (they are cut at half)."""

MESSAGE_SIZE_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
