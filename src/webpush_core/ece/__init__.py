"""Encrypted Content-Encoding for Web Push (RFC 8188, RFC 8291, aesgcm draft). Being built."""
