"""The `renderq` command line."""
