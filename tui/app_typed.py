"""Textual's ``self.app`` as the renderq app: the one place it is cast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.app import App

    from renderq.tui.app import RenderqApp


class _InApp(Protocol):
    @property
    def app(self) -> App[Any]: ...


class RenderqAppMixin:
    """For the screens: ``renderq_app``, the app they run in with its feed, view and stub."""

    @property
    def renderq_app(self: _InApp) -> RenderqApp:
        return cast("RenderqApp", self.app)
