"""MODEL_HASH names what the device runs: the emitted constants, not float64 digits of the fit."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from tinygmm.codegen.header import render_header
from tinygmm.codegen.identity import load_model, stamp_hash
from tinygmm.errors import TinyGMMError
from tinygmm.model.exported import ExportedModel

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ("weights", "means", "covariances", "precisions_cholesky", "offset", "scale")


def perturbed(m: ExportedModel, relative: float, seed: int = 1) -> ExportedModel:
    """m with every float64 parameter multiplied by 1 +- relative (as another BLAS would give)."""
    rng = np.random.default_rng(seed)
    changes = {}
    for name in PARAMS:
        value = getattr(m, name)
        r = rng.standard_normal(value.shape)
        if name == "covariances" and value.ndim >= 2:  # keep covariances symmetric
            r = r + np.swapaxes(r, -1, -2)
        changes[name] = value * (1 + relative * np.sign(r))
    return dataclasses.replace(m, **changes)


def header_hash(text: str) -> str:
    found = re.findall(r'MODEL_HASH\[\] TINYGMM_FLASH = "([0-9a-f]{16})";', text)
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def model() -> ExportedModel:
    return ExportedModel.load(ROOT / "include" / "GMM.json")


def test_below_float32_resolution_same_header_and_hash(model: ExportedModel) -> None:
    base = render_header(model, ["identity test"])
    other = perturbed(model, 1e-12)
    assert other.params_digest() != model.params_digest()  # the float64 digits do differ
    assert render_header(other, ["identity test"]) == base
    assert other.model_hash == model.model_hash == header_hash(base)


def test_a_visible_change_gives_another_hash(model: ExportedModel) -> None:
    other = perturbed(model, 1e-5)  # ~ 170 float32 steps
    text = render_header(other, ["identity test"])
    assert other.model_hash != model.model_hash
    assert header_hash(text) == other.model_hash


def test_json_header_and_vectors_agree_and_load_checks_them(model: ExportedModel, tmp_path: Path) -> None:
    doc = json.loads((ROOT / "include" / "GMM.json").read_text())
    assert doc["model_hash"] == model.model_hash == header_hash((ROOT / "include" / "GMM.h").read_text())
    assert f'MODEL_HASH[] = "{model.model_hash}"' in (ROOT / "test/test_parity/golden_vectors.h").read_text()
    # the stored hash is what regenerating the constants from the stored parameters gives
    fresh = dataclasses.replace(model)
    assert fresh.known_hash() is None and stamp_hash(fresh) == doc["model_hash"] == fresh.model_hash

    def load_edited(edit) -> ExportedModel:  # type: ignore[no-untyped-def]
        d = json.loads(json.dumps(doc))
        edit(d)
        p = tmp_path / "m.json"
        p.write_text(json.dumps(d))
        return load_model(p)

    with pytest.raises(TinyGMMError, match="model_hash does not match"):
        load_edited(lambda d: d["weights"].__setitem__(0, d["weights"][0] * 1.0000001))
    with pytest.raises(TinyGMMError, match="model_hash does not match"):
        load_edited(lambda d: d.__setitem__("model_hash", "0" * 16))
    # a JSON from before the integrity field: the hash is regenerated from the parameters
    assert load_edited(lambda d: d.pop("integrity")).model_hash == model.model_hash
    with pytest.raises(TinyGMMError, match="model_hash does not match"):
        load_edited(lambda d: (d.pop("integrity"), d.__setitem__("model_hash", "0" * 16)))
