"""Object detection (being built)."""
