"""What the app tells its screens, and the feed tells the app, as Textual messages."""

from __future__ import annotations

from textual.message import Message

from renderq.tui.farm_view import Changes
from renderq.tui.feed import FeedStatus


class FarmChanged(Message, bubble=False):
    """The farm view changed (what, in ``changes``). The feed posts it to the app at most
    every ``FLUSH_SECONDS``; the app redraws its tables, then posts one to each screen
    above them (``on_farm_changed``). It does not bubble: a screen's copy is its own.

    A screen or app that fell behind handles one: a newer FarmChanged still queued
    replaces an older one, taking its changes with it (Toolong's ``can_replace``)."""

    def __init__(self, changes: Changes) -> None:
        super().__init__()
        self.changes = changes

    def can_replace(self, message: Message) -> bool:
        """Whether ``message``, queued after this one, may stand for both (it then carries
        both's changes; a new ``Changes``: the screens' copies share theirs)."""
        if not isinstance(message, FarmChanged):
            return False
        message.changes = self.changes | message.changes
        return True


class FeedStatusChanged(Message):
    """The link to the controller came up or went down (``status`` says which, and why)."""

    def __init__(self, status: FeedStatus) -> None:
        super().__init__()
        self.status = status
