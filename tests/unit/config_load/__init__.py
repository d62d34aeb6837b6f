"""Unit tests of the stack-file loader (orchestrator/config: marks, yamlread, interpolate,
envfile, discovery, merge, extends, include, loader)."""
