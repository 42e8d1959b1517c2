"""The version, kept in the source so a vendored copy knows it too."""

__version__ = "0.1.0"
