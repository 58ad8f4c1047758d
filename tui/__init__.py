"""The operator's terminal UI (Textual); it uses only FarmService."""
