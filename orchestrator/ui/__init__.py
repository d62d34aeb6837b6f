"""Renderers of engine events: tty (live progress), plain lines, json lines, quiet; and the
coloured per-service prefixes of container output."""
