"""The package version (one place; ``blasr.__version__`` and experiment records read it)."""

__version__ = "0.1.0"
