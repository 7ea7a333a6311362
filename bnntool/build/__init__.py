"""Hardware generation from an overlay spec (HLS configuration; the build driver comes later)."""
