"""Loopback servers the network tests share (127.0.0.1 only)."""
