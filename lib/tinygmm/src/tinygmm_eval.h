// tinygmm_eval.h - allocation-free Gaussian mixture evaluation in log space.
//
// This is the runtime behind every generated GMM.h (the exporter copies this
// file verbatim into the header, so a header stays standalone). It knows no
// particular model: a generated header supplies a "model policy" struct
//
//   struct Model {
//     static const int D;                          // features
//     static const int K;                          // components
//     static void transform(const float* x, float* z); // raw input -> standardised z
//     static float shared(const float* z);         // term common to all components
//     static float log_prob(int k, const float* z);// log w_k + log N(x | k) - shared(z)
//   };
//
// and the algorithms below (predict, predict_proba, score_samples, classify)
// are written once against that interface. Everything that does not depend on
// x is precomputed in float64 at export time (Cholesky factors of the
// precisions, as scikit-learn's precisions_cholesky_, pre-multiplied by
// sqrt(1/2); log weights plus log determinants), so a component costs one
// triangular mat-vec and no exp/log. exp/log are only used to normalise
// probabilities, after subtracting the maximum, so nothing underflows to an
// all-zero result however far x lies from the data.
//
// C++11, no heap, no exceptions, no STL. Model constants live in flash on AVR.
#ifndef TINYGMM_EVAL_H
#define TINYGMM_EVAL_H

#include <math.h>
#include <stdint.h>

#if defined(__AVR__)
#include <avr/pgmspace.h>
#define TINYGMM_FLASH PROGMEM
#define TINYGMM_READ(p) pgm_read_float(p)
#else
#define TINYGMM_FLASH
#define TINYGMM_READ(p) (*(p))
#endif

namespace tinygmm {

enum CovarianceType { COV_FULL = 0, COV_TIED = 1, COV_DIAG = 2, COV_SPHERICAL = 3 };

// -||U^T (x - mean)||^2 + c, with U upper triangular (U already scaled by
// sqrt(1/2)) packed column by column: U[0][0]; U[0][1] U[1][1]; ...
template <int D>
inline float full_log_prob(const float* x, const float* mean, const float* u, float c) {
  float d[D];
  for (int i = 0; i < D; ++i) d[i] = x[i] - TINYGMM_READ(mean + i);
  float q = 0.0f;
  for (int j = 0; j < D; ++j) {
    float y = 0.0f;
    for (int i = 0; i <= j; ++i) y += d[i] * TINYGMM_READ(u++);
    q += y * y;
  }
  return c - q;
}

// Diagonal precisions: -sum_i ((x_i - mean_i) * p_i)^2 + c (p scaled by sqrt(1/2)).
template <int D>
inline float diag_log_prob(const float* x, const float* mean, const float* prec, float c) {
  float q = 0.0f;
  for (int i = 0; i < D; ++i) {
    const float y = (x[i] - TINYGMM_READ(mean + i)) * TINYGMM_READ(prec + i);
    q += y * y;
  }
  return c - q;
}

// Spherical: -h * sum_i (x_i - mean_i)^2 + c with h = precision / 2.
template <int D>
inline float spherical_log_prob(const float* x, const float* mean, float h, float c) {
  float q = 0.0f;
  for (int i = 0; i < D; ++i) {
    const float y = x[i] - TINYGMM_READ(mean + i);
    q += y * y;
  }
  return c - h * q;
}

// z = (x - offset) * inv_scale: every model is evaluated on standardised
// inputs, so its constants are of order one and float32 keeps their precision.
template <int D>
inline void standardize(const float* x, float* z, const float* offset, const float* inv_scale) {
  for (int i = 0; i < D; ++i) z[i] = (x[i] - TINYGMM_READ(offset + i)) * TINYGMM_READ(inv_scale + i);
}

// Tied covariance, evaluated as a linear discriminant (z is centred on the
// weighted mean of the component means):
// log p_k = shared(z) + a_k + b_k . z, shared(z) = -||U^T z||^2.
// The quadratic term is common to every component, so predict and
// predict_proba never compute it, and far points keep their exact ordering.
template <int D>
inline float linear_log_prob(const float* z, const float* b, float a) {
  float s = a;
  for (int i = 0; i < D; ++i) s += z[i] * TINYGMM_READ(b + i);
  return s;
}

template <int D>
inline float tied_shared(const float* z, const float* u) {
  float q = 0.0f;
  for (int j = 0; j < D; ++j) {
    float y = 0.0f;
    for (int i = 0; i <= j; ++i) y += z[i] * TINYGMM_READ(u++);
    q += y * y;
  }
  return -q;
}

// Index of the most probable component (scikit-learn's predict).
template <class M>
inline int predict(const float* x) {
  float z[M::D];
  M::transform(x, z);
  int best = 0;
  float best_lp = M::log_prob(0, z);
  for (int k = 1; k < M::K; ++k) {
    const float lp = M::log_prob(k, z);
    if (lp > best_lp) {
      best_lp = lp;
      best = k;
    }
  }
  return best;
}

// Fills proba[K] (scikit-learn's predict_proba), returns the argmax and, if
// log_likelihood is not null, stores scikit-learn's score_samples there.
template <class M>
inline int classify(const float* x, float* proba, float* log_likelihood) {
  float z[M::D];
  M::transform(x, z);
  int best = 0;
  for (int k = 0; k < M::K; ++k) {
    proba[k] = M::log_prob(k, z);
    if (proba[k] > proba[best]) best = k;
  }
  const float top = proba[best];
  float sum = 0.0f;
  for (int k = 0; k < M::K; ++k) {
    proba[k] = expf(proba[k] - top);
    sum += proba[k];
  }
  const float inv = 1.0f / sum;
  for (int k = 0; k < M::K; ++k) proba[k] *= inv;
  if (log_likelihood) *log_likelihood = M::shared(z) + top + logf(sum);
  return best;
}

template <class M>
inline float score_samples(const float* x) {
  float proba[M::K];
  float ll;
  classify<M>(x, proba, &ll);
  return ll;
}

template <class M>
inline int predict_proba(const float* x, float* proba) {
  return classify<M>(x, proba, 0);
}

}  // namespace tinygmm

#endif  // TINYGMM_EVAL_H
