"""Shared pytest fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install it; .ci/run does)")
    return path


@pytest.fixture(scope="session")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(project dir, native firmware executable) for the demo model with K=4."""
    from fw import build_firmware, make_project

    project = make_project(tmp_path_factory.mktemp("fw") / "project")
    return project, build_firmware(project)
