"""VAPID (RFC 8292). Being built."""
