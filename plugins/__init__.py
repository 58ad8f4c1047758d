"""Renderer plugins: what each renderer needs, how its commands are built, how its output reads."""
