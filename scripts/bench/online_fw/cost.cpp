// cost.cpp - cycles of tinygmm::OnlineGMM on a simulated ATmega328P (scripts/bench/online.py, simharness.c).
// GPIOR0 <- start, GPIOR1 <- end of one measured call, GPIOR2 <- done. Phases, N calls each, in order:
//   learn (adapting include/GMM.h's model, begin_from_header), predict, score_samples, is_anomaly,
//   the frozen header's gmm::predict and gmm::score_samples on the same inputs,
//   then one scratch learner: WARM learn calls (the last one seeds: k-means++ and Lloyd) and N more.
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <string.h>

#include "GMM.h"
#include "cost_inputs.h"
#include "tinygmm_online.h"

typedef tinygmm::OnlineGMM<gmm::N_COMPONENTS, gmm::N_FEATURES, tinygmm::ONLINE_COV_FULL, COST_WARM> Learner;
Learner learner;
static float x[gmm::N_FEATURES];
volatile uint8_t sink;

static void load(uint16_t n) { memcpy_P(x, &INPUTS[n * gmm::N_FEATURES], sizeof x); }

int main(void) {
  tinygmm::OnlineConfig cfg = tinygmm::online_defaults();
  cfg.t0 = COST_T0;
  cfg.gamma_floor = COST_GAMMA_FLOOR;
  if (learner.begin_from_header<gmm::detail::Model>(cfg, gmm::COVARIANCE_TYPE) != 0) {
    GPIOR2 = 2;
    cli();
    sleep_cpu();
  }
  for (uint16_t n = 0; n < N_IN; ++n) {
    load(n);
    GPIOR0 = 1;
    const int st = learner.learn(x);
    GPIOR1 = (uint8_t)(st + 10);
  }
  for (uint16_t n = 0; n < N_IN; ++n) {
    load(n);
    GPIOR0 = 1;
    const int r = learner.predict(x);
    GPIOR1 = (uint8_t)r;
  }
  for (uint16_t n = 0; n < N_IN; ++n) {
    load(n);
    GPIOR0 = 1;
    const float s = learner.score_samples(x);
    GPIOR1 = s > -10.0f;
  }
  for (uint16_t n = 0; n < N_IN; ++n) {
    load(n);
    GPIOR0 = 1;
    const bool a = learner.is_anomaly(x);
    GPIOR1 = a;
  }
  for (uint16_t n = 0; n < N_IN; ++n) {
    load(n);
    GPIOR0 = 1;
    const int r = gmm::predict(x);
    GPIOR1 = (uint8_t)r;
  }
  for (uint16_t n = 0; n < N_IN; ++n) {
    load(n);
    GPIOR0 = 1;
    const float s = gmm::score_samples(x);
    GPIOR1 = s > -10.0f;
  }
  learner.begin_scratch(cfg);
  for (uint16_t n = 0; n < COST_WARM + N_IN; ++n) {
    load(n % N_IN);
    GPIOR0 = 1;
    const int st = learner.learn(x);
    GPIOR1 = (uint8_t)(st + 10);
  }
  GPIOR2 = 1;
  cli();
  sleep_cpu();
  for (;;) {
  }
}
