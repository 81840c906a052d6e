"""A model's identity: the code generator stamps MODEL_HASH on it (the model knows nothing of C)."""

from __future__ import annotations

from pathlib import Path

from ..model.exported import ExportedModel
from .header import device_hash, model_constants


def stamp_hash(m: ExportedModel, constants: str | None = None) -> str:
    """The model's MODEL_HASH (a hash of its generated constants), recorded on the model.

    ``constants``: model_constants(m) when the caller already generated them.
    """
    known = None if constants is not None else m.known_hash()
    if known is None:
        known = device_hash(model_constants(m) if constants is None else constants)
        m.remember_hash(known)
    return known


def load_model(path: str | Path) -> ExportedModel:
    """ExportedModel.load that also checks a JSON from before the integrity field (by regenerating its constants)."""
    return ExportedModel.load(path, hasher=stamp_hash)
