"""The demo: a scene and a no-renderer pattern renderer so a new farm has something to render."""
