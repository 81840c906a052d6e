// tinygmm_projection.h - the input projection of a pipeline (scalers and a PCA
// folded at export into one affine map).
//
// Pasted into a generated GMM.h only for a model exported from a pipeline with
// a projection; see docs/runtime.md.
#ifndef TINYGMM_PROJECTION_H
#define TINYGMM_PROJECTION_H

#include "tinygmm_platform.h"

namespace tinygmm {

// v = M (x - centre), M (P x D) stored by column: for pipelines whose linear
// steps (a PCA, scalers around it) were folded at export into one map. One
// subtraction per raw feature and P * D multiply-adds; the mixture is then
// evaluated on v (P features) as any other model.
template <int D, int P>
inline void project(const float* x, float* v, const float* centre, const float* m) {
  for (int i = 0; i < P; ++i) v[i] = 0.0f;
  for (int j = 0; j < D; ++j) {
    const float d = x[j] - TINYGMM_READ(centre + j);
    for (int i = 0; i < P; ++i) v[i] += TINYGMM_READ(m++) * d;
  }
}

}  // namespace tinygmm

#endif  // TINYGMM_PROJECTION_H
