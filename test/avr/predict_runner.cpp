// predict_runner.cpp - the predict entry points of an exported GMM.h on a
// bare-metal ATmega328P (and, built with g++, on the host), for
// test/python/test_avr_sim.py. Inputs come from a generated predict_inputs.h:
//   namespace inputs { N, X[N * D] (floats), ZQ[N * D] (int16, fixed point only) }
// Output, one line per input:
//   P <i> <predict(x)>                                   (float model)
//   P <i> <predict(x)> <predict_q(x)> <in> zq[0..D-1] <predict_fixed(ZQ[i])>
//                                                         (with --fixed-point; zq = quantize(x), 0s if !in)
//   ... then, with PREDICT_RUNNER_ANOMALY (a model with a threshold): is_anomaly_fixed(ZQ[i])
//   (fixed point only), is_anomaly(x), is_anomaly_q(x) (fixed point only)
// then END. On AVR predict runs the soft-float code path (and the hand-written
// kernel where there is one), on the host the same source runs with
// -DTINYGMM_SOFT_FLOAT=1, so the two outputs must be identical line for line.
#include "GMM.h"
#include "avr_uart.h"
#include "predict_inputs.h"

int main() {
  uart_init();
  float x[gmm::N_FEATURES];
  for (int i = 0; i < inputs::N; ++i) {
    for (int d = 0; d < gmm::N_FEATURES; ++d) x[d] = TINYGMM_READ(inputs::X + i * gmm::N_FEATURES + d);
    uart_putc('P');
    uart_put_int(i);
    uart_put_int(gmm::predict(x));
#if defined(PREDICT_RUNNER_FIXED)
    uart_put_int(gmm::predict_q(x));
    int16_t zq[gmm::N_FEATURES];
    const bool in = gmm::quantize(x, zq);
    uart_put_int(in ? 1 : 0);
    for (int d = 0; d < gmm::N_FEATURES; ++d) uart_put_int(in ? zq[d] : 0);
    for (int d = 0; d < gmm::N_FEATURES; ++d) zq[d] = TINYGMM_READ_I16(inputs::ZQ + i * gmm::N_FEATURES + d);
    uart_put_int(gmm::predict_fixed(zq));
#if defined(PREDICT_RUNNER_ANOMALY)
    uart_put_int(gmm::is_anomaly_fixed(zq));
#endif
#endif
#if defined(PREDICT_RUNNER_ANOMALY)
    uart_put_int(gmm::is_anomaly(x) ? 1 : 0);
#if defined(PREDICT_RUNNER_FIXED)
    uart_put_int(gmm::is_anomaly_q(x) ? 1 : 0);
#endif
#endif
    uart_putc('\n');
  }
  uart_puts_flash(RUNNER_STR("END\n"));
  halt();
  return 0;
}
