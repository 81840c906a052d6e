"""The input projection of pipelines with a PCA: v = PROJ (x - PROJ_CENTRE), once per input.

Every linear step of a pipeline (scalers, PCA, whitening) is folded at
export into this one affine map; the mixture's constants are then those of
a P-dimensional model on v (``ExportedModel.mixture_view``), so the device
does D subtractions and P * D multiply-adds per input, never a loop over
steps or components.
"""

from __future__ import annotations

from ..model.exported import ExportedModel
from .clit import float_array


def projection_tables(m: ExportedModel) -> str:
    """PROJ_CENTRE (D) and PROJ (P x D, stored by column: the runtime's order)."""
    assert m.projection is not None
    d, p = m.n_features, m.n_dims
    return float_array(
        "PROJ_CENTRE", m.projection.centre, max(d, 1), "input projection v = PROJ (x - PROJ_CENTRE) (D)"
    ) + float_array(
        "PROJ",
        m.projection.matrix.T,
        max(p, 1),
        f"PROJ ({p} x {d}) by column: the weights of x[j] - PROJ_CENTRE[j] in v[0..{p - 1}]",
    )


def entry_points(projected: bool) -> str:
    """The public float API: straight into the runtime, or through project() first."""
    if not projected:
        return """inline int predict(const float* x) { return tinygmm::predict<detail::Model>(x); }
inline int predict_proba(const float* x, float* proba) {
  return tinygmm::predict_proba<detail::Model>(x, proba);
}
inline float score_samples(const float* x) { return tinygmm::score_samples<detail::Model>(x); }
inline int classify(const float* x, float* proba, float* log_likelihood) {
  return tinygmm::classify<detail::Model>(x, proba, log_likelihood);
}
"""
    return """// v = the pipeline's preprocessing of x (N_FEATURES raw values -> N_DIMS)
inline void project(const float* x, float* v) {
  tinygmm::project<N_FEATURES, N_DIMS>(x, v, detail::PROJ_CENTRE, detail::PROJ);
}
inline int predict(const float* x) {
  float v[N_DIMS];
  project(x, v);
  return tinygmm::predict<detail::Model>(v);
}
inline int classify(const float* x, float* proba, float* log_likelihood) {
  float v[N_DIMS];
  project(x, v);
  return tinygmm::classify<detail::Model>(v, proba, log_likelihood);
}
inline int predict_proba(const float* x, float* proba) { return classify(x, proba, 0); }
inline float score_samples(const float* x) {
  float proba[N_COMPONENTS];
  float ll;
  classify(x, proba, &ll);
  return ll;
}
"""
