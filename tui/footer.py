"""The footer: the keys that work where the focus is, composed again only when they change.

Textual's ``Footer`` composes itself again (every key a new widget, styled anew: tens of
milliseconds) each time a screen says its key bindings changed, and one key can say so
several times: a switch of tab moves the focus, shows the tab and refreshes the bindings,
three recomposes in a row, most of them showing the same keys as before. Here a change
recomposes the footer only when the keys it would show differ from those it shows.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


def shown_keys(screen: Screen[Any]) -> Hashable:
    """What the footer shows of ``screen``'s bindings: key, action, words, whether on."""
    return tuple(
        (key, binding.action, binding.description, binding.show, active.enabled, active.tooltip)
        for key, active in screen.active_bindings.items()
        for binding in [active.binding]
    )


class KeysFooter(Footer):
    """``Footer``, recomposed only when the keys it would show changed."""

    def __init__(self, *, compact: bool = False, show_command_palette: bool = True) -> None:
        super().__init__(compact=compact, show_command_palette=show_command_palette)
        self._composed_for: Hashable = None
        """``shown_keys`` when the footer was last composed."""

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_if_changed, screen)

    def _recompose_if_changed(self, screen: Screen[Any]) -> None:
        keys = shown_keys(screen)
        if keys == self._composed_for:
            return
        super().bindings_changed(screen)
        if self.app.app_focus:  # else Textual composes nothing now
            self._composed_for = keys
