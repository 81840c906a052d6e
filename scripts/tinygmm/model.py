"""The exported model: every fitted parameter in float64, as JSON.

The JSON file is the host side's source of truth. ``ExportedModel.to_sklearn``
rebuilds a ``GaussianMixture`` from it, so verification and reports use
scikit-learn itself, not a re-implementation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import TinyGMMError

FORMAT = "tinygmm-model/1"


@dataclass
class ExportedModel:
    feature_names: list[str]
    covariance_type: str
    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, D), in scaled space
    covariances: np.ndarray  # shape as scikit-learn's covariances_
    precisions_cholesky: np.ndarray  # shape as scikit-learn's precisions_cholesky_
    scaler: str = "none"
    offset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0))
    options: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    selection: list[dict[str, Any]] = field(default_factory=list)
    converged: bool = True
    sklearn_version: str = ""
    tool_version: str = __version__

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    @classmethod
    def from_fit(cls, result: Any, data: Any, options: dict[str, Any]) -> ExportedModel:
        import sklearn

        g = result.gmm
        return cls(
            feature_names=list(data.feature_names),
            covariance_type=g.covariance_type,
            weights=np.asarray(g.weights_, dtype=np.float64),
            means=np.asarray(g.means_, dtype=np.float64),
            covariances=np.asarray(g.covariances_, dtype=np.float64),
            precisions_cholesky=np.asarray(g.precisions_cholesky_, dtype=np.float64),
            scaler=options.get("scaler", "none"),
            offset=np.asarray(result.offset, dtype=np.float64),
            scale=np.asarray(result.scale, dtype=np.float64),
            options=dict(options),
            data={
                "path": data.path,
                "sha256": data.sha256,
                "rows": data.n_samples,
                "dropped_lines": list(data.dropped_lines),
            },
            selection=[vars(r) for r in result.sweep],
            converged=bool(result.converged),
            sklearn_version=sklearn.__version__,
        )

    # ---- identity -------------------------------------------------------
    def params_dict(self) -> dict[str, Any]:
        """What determines the model's outputs (and so its hash)."""
        return {
            "feature_names": self.feature_names,
            "covariance_type": self.covariance_type,
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
            "precisions_cholesky": self.precisions_cholesky.tolist(),
            "scaler": self.scaler,
            "offset": self.offset.tolist(),
            "scale": self.scale.tolist(),
        }

    @property
    def model_hash(self) -> str:
        """16 hex digits naming the model; printed by the device and the host alike."""
        text = json.dumps(self.params_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # ---- JSON ------------------------------------------------------------
    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "tool_version": self.tool_version,
            "sklearn_version": self.sklearn_version,
            "model_hash": self.model_hash,
            "data": self.data,
            "options": self.options,
            "converged": self.converged,
            "selection": self.selection,
            **self.params_dict(),
        }
        return json.dumps(doc, indent=1, sort_keys=False, allow_nan=False) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> ExportedModel:
        p = Path(path)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TinyGMMError(f"model file not found: {p} (run 'tinygmm export' first)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TinyGMMError(f"{p}: not a tinygmm model JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            found = f"format {doc.get('format')!r}" if isinstance(doc, dict) else f"a JSON {type(doc).__name__}"
            raise TinyGMMError(f"{p}: not a tinygmm model JSON ({found}, not an object with format {FORMAT!r})")
        try:
            m = cls._from_doc(doc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise TinyGMMError(f"{p}: not a valid tinygmm model JSON ({what})") from None
        if m.model_hash != doc.get("model_hash"):
            raise TinyGMMError(f"{p}: model_hash does not match the parameters (edited by hand?)")
        return m

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> ExportedModel:
        m = cls(
            feature_names=list(doc["feature_names"]),
            covariance_type=doc["covariance_type"],
            weights=np.array(doc["weights"], dtype=np.float64),
            means=np.array(doc["means"], dtype=np.float64),
            covariances=np.array(doc["covariances"], dtype=np.float64),
            precisions_cholesky=np.array(doc["precisions_cholesky"], dtype=np.float64),
            scaler=doc["scaler"],
            offset=np.array(doc["offset"], dtype=np.float64),
            scale=np.array(doc["scale"], dtype=np.float64),
            options=doc.get("options", {}),
            data=doc.get("data", {}),
            selection=doc.get("selection", []),
            converged=doc.get("converged", True),
            sklearn_version=doc.get("sklearn_version", ""),
            tool_version=doc.get("tool_version", ""),
        )
        return m

    # ---- scikit-learn ----------------------------------------------------
    def to_sklearn(self) -> Any:
        """A fitted ``GaussianMixture`` equal to the exported one."""
        from sklearn.mixture import GaussianMixture

        g = GaussianMixture(n_components=self.n_components, covariance_type=self.covariance_type)
        g.weights_ = self.weights.copy()
        g.means_ = self.means.copy()
        g.covariances_ = self.covariances.copy()
        g.precisions_cholesky_ = self.precisions_cholesky.copy()
        pc = self.precisions_cholesky
        if self.covariance_type == "full":
            g.precisions_ = np.einsum("kij,klj->kil", pc, pc)
        elif self.covariance_type == "tied":
            g.precisions_ = pc @ pc.T
        else:
            g.precisions_ = pc**2
        g.n_features_in_ = self.n_features
        g.converged_ = True
        g.n_iter_ = 0
        g.lower_bound_ = 0.0
        return g

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Raw feature values -> what the mixture was fitted on."""
        return (np.asarray(X, dtype=np.float64) - self.offset) / self.scale

    def weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        """log w_k + log N(x | k) in float64, shape (n, K)."""
        return self.to_sklearn()._estimate_weighted_log_prob(self.transform(X))
