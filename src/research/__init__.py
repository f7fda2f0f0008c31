"""Customer-relationship analytics for corporate lending and project finance."""

__version__ = "0.1.0"
