"""The exported model: every fitted parameter in float64, as JSON.

The JSON file is the host side's source of truth. ``ExportedModel.to_sklearn``
rebuilds a ``GaussianMixture`` from it, so verification and reports use
scikit-learn itself, not a re-implementation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.mixture import GaussianMixture

from ..errors import TinyGMMError
from ..version import __version__
from .check import check_model

if TYPE_CHECKING:
    from collections.abc import Callable

    from sklearn.mixture import GaussianMixture

FORMAT = "tinygmm-model/1"


@dataclass
class Projection:
    """A linear map of the raw input before the mixture: v = matrix @ (x - centre).

    From a pipeline whose steps (a PCA, scalers around it) are not one scale
    per feature: P = matrix.shape[0] may be below D (a reducing PCA).
    """

    centre: np.ndarray  # (D,) raw units, near the data (float32 keeps x - centre precise)
    matrix: np.ndarray  # (P, D)

    def to_dict(self) -> dict[str, Any]:
        return {"centre": self.centre.tolist(), "matrix": self.matrix.tolist()}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Projection:
        return cls(np.array(doc["centre"], dtype=np.float64), np.array(doc["matrix"], dtype=np.float64))


@dataclass
class ExportedModel:
    """A fitted mixture and its input map, raw x -> u (the space the mixture was fitted in).

    Without a projection u = (x - offset) / scale; with one, v = projection(x)
    and u = (v - offset) / scale. ``log_weights``, when set, replaces
    log(weights) in every log-probability (BayesianGaussianMixture: its
    expected log weights plus the per-component digamma, degrees-of-freedom
    and mean_precision_ terms of its _estimate_log_prob).
    """

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
    log_weights: np.ndarray | None = None  # (K,)
    projection: Projection | None = None
    # (params_digest(), MODEL_HASH) once known: the code generator computes it (codegen.stamp_hash)
    _hash_memo: tuple[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_features(self) -> int:
        """Raw input features (the header's N_FEATURES)."""
        return len(self.feature_names)

    @property
    def n_dims(self) -> int:
        """Dimension the mixture is evaluated in (P < N_FEATURES after a reducing PCA)."""
        return int(self.means.shape[1]) if self.means.ndim == 2 else self.n_features

    def component_log_weights(self) -> np.ndarray:
        """What each component's log-probability adds to its log-density, (K,)."""
        return np.log(self.weights) if self.log_weights is None else self.log_weights

    def mixture_view(self) -> ExportedModel:
        """The mixture on its own input v (P features v0..): what the codegen evaluates after the projection."""
        if self.projection is None:
            return self
        return replace(self, feature_names=[f"v{i}" for i in range(self.n_dims)], projection=None)

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
            # only when present, so that the hash of a plain model stays what it was
            **({"log_weights": self.log_weights.tolist()} if self.log_weights is not None else {}),
            **({"projection": self.projection.to_dict()} if self.projection is not None else {}),
        }

    def params_digest(self) -> str:
        """SHA-256 of the float64 parameters as the JSON stores them."""
        text = json.dumps(self.params_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def model_hash(self) -> str:
        """16 hex digits naming what the device runs (printed by the device and the host alike).

        A hash of the emitted constants (codegen.model_constants), not of float64 digits: a refit
        that differs only below float32 resolution (another BLAS) gives the same header and hash.
        The model knows nothing of C: the code generator stamps it (codegen.stamp_hash, render_header),
        and load() takes it from the JSON.
        """
        known = self.known_hash()
        if known is None:
            raise TinyGMMError(
                "the model's hash is not known yet: tinygmm.codegen.identity.stamp_hash(model) computes it"
            )
        return known

    def known_hash(self) -> str | None:
        """The stamped hash if it belongs to the current parameters, else None."""
        if self._hash_memo is None or self._hash_memo[0] != self.params_digest():
            return None
        return self._hash_memo[1]

    def remember_hash(self, model_hash: str) -> None:
        """Record the hash of constants just generated from these parameters."""
        self._hash_memo = (self.params_digest(), model_hash)

    def integrity(self) -> str:
        """Binds the JSON's float64 parameters to its model_hash (checked by load, cheaply)."""
        return hashlib.sha256(f"{self.params_digest()} {self.model_hash}".encode()).hexdigest()[:16]

    # ---- JSON ------------------------------------------------------------
    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "tool_version": self.tool_version,
            "sklearn_version": self.sklearn_version,
            "model_hash": self.model_hash,
            "integrity": self.integrity(),
            "data": self.data,
            "options": self.options,
            "converged": self.converged,
            "selection": self.selection,
            **self.params_dict(),
        }
        return json.dumps(doc, indent=1, sort_keys=False, allow_nan=False) + "\n"

    @classmethod
    def load(cls, path: str | Path, hasher: Callable[[ExportedModel], str] | None = None) -> ExportedModel:
        """Read and check a model JSON; its model_hash must match its parameters.

        ``hasher`` (codegen.stamp_hash; codegen.load_model passes it) checks a JSON from before the
        integrity field by regenerating the constants; without it such a file is refused.
        """
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
        check_model(m, f"{p}: ")  # before the hash check: regenerating constants needs sane shapes
        stated = doc.get("model_hash")
        if not isinstance(stated, str) or not stated:
            raise TinyGMMError(f"{p}: not a tinygmm model JSON (no model_hash)")
        if "integrity" in doc:  # cheap: the parameters and model_hash are as exported
            m.remember_hash(stated)
            ok = m.integrity() == doc["integrity"]
        elif hasher is not None:  # older files: regenerate the constants and hash them
            ok = hasher(m) == stated
        else:
            raise TinyGMMError(
                f"{p}: no integrity field (an older JSON): load it with tinygmm.codegen.identity.load_model"
            )
        if not ok:
            raise TinyGMMError(f"{p}: model_hash does not match the parameters (edited by hand?)")
        return m

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> ExportedModel:
        return cls(
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
            log_weights=np.array(doc["log_weights"], dtype=np.float64) if "log_weights" in doc else None,
            projection=Projection.from_dict(doc["projection"]) if "projection" in doc else None,
        )

    # ---- scikit-learn ----------------------------------------------------
    def to_sklearn(self) -> GaussianMixture:
        """A fitted ``GaussianMixture`` equal to the exported one."""

        g = GaussianMixture(n_components=self.n_components, covariance_type=self.covariance_type)
        # with log_weights (a BayesianGaussianMixture), weights_ = exp(log_weights) makes
        # GaussianMixture's log w_k + log N(x | k) that of the Bayesian model
        g.weights_ = self.weights.copy() if self.log_weights is None else np.exp(self.log_weights)
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
        g.n_features_in_ = self.n_dims
        g.converged_ = True
        g.n_iter_ = 0
        g.lower_bound_ = 0.0
        return g

    def project(self, X: np.ndarray) -> np.ndarray:
        """Raw feature values -> the mixture's input v (X itself without a projection)."""
        X = np.asarray(X, dtype=np.float64)
        if self.projection is None:
            return X
        return (X - self.projection.centre) @ self.projection.matrix.T

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Raw feature values -> what the mixture was fitted on."""
        return (self.project(X) - self.offset) / self.scale

    def sample_inputs(self, n: int = 600) -> np.ndarray:
        """n raw inputs drawn from the mixture itself (seeded): where golden vectors come from without data.

        After a reducing projection the sample lies in the projection's row space through its centre.
        """
        g = self.to_sklearn()
        g.weights_ = self.weights.copy()
        g.random_state = 0
        v = self.offset + self.scale * g.sample(n)[0]
        if self.projection is None:
            return v
        return self.projection.centre + v @ np.linalg.pinv(self.projection.matrix).T

    def weighted_log_prob(self, X: np.ndarray) -> np.ndarray:
        """log w_k + log N(x | k) in float64, shape (n, K)."""
        return self.to_sklearn()._estimate_weighted_log_prob(self.transform(X))
