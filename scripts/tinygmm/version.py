"""The tinygmm version (one place: pyproject.toml, library.json and library.properties repeat it)."""

__version__ = "0.1.0"
