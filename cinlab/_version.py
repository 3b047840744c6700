"""cinlab's version: the installed distribution's, from one place (pyproject.toml)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cinlab")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
