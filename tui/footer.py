"""The footer: the keys that work where the focus is, each set of keys composed once.

Textual's ``Footer`` composes itself again (every key a new widget, styled anew: tens of
milliseconds) each time a screen says its key bindings changed, and one key can say so
several times: a switch of tab moves the focus, shows the tab and refreshes the bindings,
three recomposes in a row, most of them showing the same keys as before. Here the keys a
footer shows are composed once per set of keys (the Jobs tab's, the Farm tab's, the
filter box's...), each set in a ``KeySet`` of its own, and a change shows the set it
needs: half the cost of a switch of tab was composing the footer again.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from textual.app import ComposeResult
from textual.compose import compose
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer


def shown_keys(screen: Screen[Any]) -> Hashable:
    """What the footer shows of ``screen``'s bindings: key, action, words, whether on."""
    return tuple(
        (key, binding.action, binding.description, binding.show, active.enabled, active.tooltip)
        for key, active in screen.active_bindings.items()
        for binding in [active.binding]
    )


class KeySet(Widget):
    """The keys of one set, laid out as ``Footer`` lays out its own children."""

    DEFAULT_CSS = "KeySet { layout: horizontal; width: auto; height: 1; }"


class KeysFooter(Footer):
    """``Footer``, showing for each set of keys the ``KeySet`` composed for it."""

    def __init__(self, *, compact: bool = False, show_command_palette: bool = True) -> None:
        super().__init__(compact=compact, show_command_palette=show_command_palette)
        self._sets: dict[Hashable, KeySet] = {}
        """``shown_keys`` -> the set composed for them."""
        self._shown: Hashable = None
        """The ``shown_keys`` of the set on display."""

    def compose(self) -> ComposeResult:
        """Nothing at first: the sets are composed as their keys are shown."""
        return iter(())

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._show_keys, screen)

    def _show_keys(self, screen: Screen[Any]) -> None:
        """Show the set of ``screen``'s keys, composing it the first time they are shown
        (as ``Footer`` does: not while the app has no focus)."""
        keys = shown_keys(screen)
        if keys == self._shown or not (self.is_attached and self.app.app_focus):
            return
        key_set = self._sets.get(keys)
        if key_set is None:
            self._bindings_ready = True
            key_set = self._sets[keys] = KeySet(*compose(self, super().compose()))
            self.mount(key_set)
        for each in self._sets.values():
            each.display = each is key_set
        self._shown = keys
