"""Client helpers shared by the CLI, the TUI and scripts: finding and dialling the controller, errors."""
