"""The installed version: one source, the package metadata written from ``pyproject.toml``."""

from __future__ import annotations

from importlib import metadata


__all__ = ["package_version"]


def package_version() -> str:
    """The installed hamux_graph version (from the package metadata: one source, pyproject.toml)."""
    try:
        return metadata.version("hamux_graph")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0+unknown"
