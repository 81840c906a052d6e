// tinygmm_learn.h - an OnlineGMM behind the serial protocol's learning commands.
//
// Build with -DTINYGMM_LEARN=1 (adapt the header's model) or 2 (learn from scratch); the
// protocol then answers LEARN, FREEZE, THAW, RESET, SAVE, LOAD and DUMP (docs/protocol.md)
// through a tinygmm::Learning table, which LearnerGlue builds from a learner object:
//
//   struct Env {
//     typedef tinygmm::OnlineGMM<K, D> Learner;
//     static Learner& learner() { static Learner g; return g; }   // (or a global)
//     static int start(Learner& g) { ...begin / begin_scratch...; return an OnlineStatus; }
//     static const tinygmm::OnlineStorage* storage() { return &my_storage; }  // EEPROM, a file, RAM; or 0
//     static const uint8_t START = 1;  // 1 adapt, 2 scratch (what INFO says)
//   };
//   typedef tinygmm::LearnerGlue<Env> Glue;
//   Glue::start(); protocol.set_learning(&Glue::hooks);   // and DeviceModel::classify = Glue::classify
//
// Learning (LEARN) stops while the threshold is frozen (FREEZE); THAW resumes both. The
// frozen flag is part of the learner's state, so SAVE / LOAD keep it.
#ifndef TINYGMM_LEARN_H
#define TINYGMM_LEARN_H

#include "tinygmm_online.h"
#include "tinygmm_protocol.h"

#if TINYGMM_PROTOCOL_LEARN

namespace tinygmm {

// Env: the learner, how it starts, where it is stored (see above).
template <class Env>
struct LearnerGlue {
  typedef typename Env::Learner L;
  static int start() { return Env::start(Env::learner()); }
  static int8_t learn(const float* x, Classification* out) {
    if (Env::learner().threshold_frozen()) return LEARN_FROZEN;
    OnlineScore sc = {-1, 0.0f, 0.0f, false};  // (label -1: learn() scored nothing)
    switch (Env::learner().learn(x, &sc)) {
      case ONLINE_OK:
        if (sc.label < 0) return LEARN_WARMING;  // the last warm-up sample: the seeding step
        out->label = static_cast<int16_t>(sc.label);
        out->probability = sc.probability;
        out->log_likelihood = sc.log_likelihood;
        out->anomaly = sc.anomalous ? 1 : 0;
        return LEARN_LEARNED;
      case ONLINE_WARMING:
        return LEARN_WARMING;
      case ONLINE_BAD_INPUT:
        return LEARN_BAD_INPUT;
      case ONLINE_FAR:
        return LEARN_FAR;
      default:
        return LEARN_NOT_STARTED;
    }
  }
  static void freeze(bool frozen) { Env::learner().freeze_threshold(frozen); }
  static int8_t reset() { return start() == ONLINE_OK ? 0 : LEARN_NOT_STARTED; }
  // SAVE and LOAD go through the storage in pieces (OnlineGMM::save_to / load_from): no copy of the
  // state on the stack. A LOAD whose storage changed between its check and its copy leaves the
  // learner started afresh (and answers ERR bad-state).
  static int32_t save(uint32_t* crc) {
    const OnlineStorage* S = Env::storage();
    if (!S) return -1;
    return Env::learner().save_to(*S, crc) ? (int32_t)L::STATE_BYTES : -2;
  }
  static int8_t load() {
    const OnlineStorage* S = Env::storage();
    if (!S) return -1;
    const int st = Env::learner().load_from(*S);
    if (st == ONLINE_OK) return 0;
    if (st == ONLINE_NOT_STARTED) start();
    return -2;
  }
  static bool param(uint8_t k, uint16_t i, float* v) {
    const typename L::State& s = Env::learner().state();
    const typename L::Component& m = s.comp[k];
    if (i == 0) {
      *v = m.s0 / s.total;  // as get_params
      return true;
    }
    if (i <= L::D_FEATURES) {
      *v = m.mean[i - 1];
      return true;
    }
    const int e = i - 1 - L::D_FEATURES;
    if (e >= L::T) return false;
    bool diagonal = !L::FULL;
    for (int r = 0; r < L::D_FEATURES && !diagonal; ++r) diagonal = e == r * (r + 3) / 2;
    *v = diagonal ? m.cov[e] + s.cfg.reg_covar : m.cov[e];
    return true;
  }
  static void status(LearnStatus* out) {
    const typename L::State& s = Env::learner().state();
    out->start = Env::START;
    out->mode = static_cast<uint8_t>(s.mode);
    out->frozen = Env::learner().threshold_frozen() ? 1 : 0;
    out->full = L::FULL ? 1 : 0;
    out->t = s.t;
    out->splits = s.splits;
    out->n_warm = static_cast<uint16_t>(s.n_warm);
    out->warm = static_cast<uint16_t>(L::WARM_SIZE);
    out->threshold = Env::learner().threshold();
    out->reg_covar = s.cfg.reg_covar;
  }
  // A DeviceModel's classify on the current parameters (label -1 until the learner is ready);
  // anomaly bit 0: below the current threshold.
  static void classify(const float* x, Classification* out) {
    float proba[L::K_COMPONENTS];
    float ll = 0.0f;
    const int k = Env::learner().classify(x, proba, &ll);
    out->label = static_cast<int16_t>(k);
    if (k < 0) return;
    out->probability = proba[k];
    out->log_likelihood = ll;
    const float th = Env::learner().threshold();
    out->anomaly = (th > -INFINITY && !(ll >= th)) ? 1 : 0;
  }
  static const Learning hooks;
};

template <class Env>
const Learning LearnerGlue<Env>::hooks = {learn, freeze, reset, save, load, param, status};

}  // namespace tinygmm

#endif  // TINYGMM_PROTOCOL_LEARN
#endif  // TINYGMM_LEARN_H
