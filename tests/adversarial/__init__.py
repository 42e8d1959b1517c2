"""Hostile peers and hostile input, one file per behaviour defended (the file names say which)."""
