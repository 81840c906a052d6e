// tinygmm_eval.h - the whole evaluation runtime in one include, for code that
// uses the library's parts directly (tests, benchmarks). A generated GMM.h
// does not include it: it pastes the parts its model uses (see
// scripts/tinygmm/runtime.py and docs/runtime.md), so it stands alone.
//
//   tinygmm_platform.h       flash access, covariance types, float comparisons
//   tinygmm_log_prob.h       one component's log-probability per covariance type; centring
//   tinygmm_predict.h        predict, predict_proba, score_samples, classify (log-sum-exp)
//   tinygmm_avr_kernel.h     predict of full-covariance models in AVR assembly
//   tinygmm_projection.h     a pipeline's input projection
//   tinygmm_anomaly.h        the anomaly decision (float)
//   tinygmm_fixed.h          the fixed-point path (quantize, predict_fixed)
//   tinygmm_anomaly_fixed.h  the anomaly decision in fixed point
#ifndef TINYGMM_EVAL_H
#define TINYGMM_EVAL_H

#include "tinygmm_platform.h"
#include "tinygmm_log_prob.h"
#include "tinygmm_predict.h"
#include "tinygmm_avr_kernel.h"
#include "tinygmm_projection.h"
#include "tinygmm_anomaly.h"
#include "tinygmm_fixed.h"
#include "tinygmm_anomaly_fixed.h"

#endif  // TINYGMM_EVAL_H
