"""Renderer plugins and the frame-range grammar, shared by controller and agent."""
