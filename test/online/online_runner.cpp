// online_runner.cpp - tinygmm::OnlineGMM on an input stream, for test/python/test_online.py.
// Built with g++ (host), avr-g++ (bare-metal ATmega328P under simavr, see test/avr/avr_uart.h) or a
// 32-bit cross compiler with -DONLINE_QEMU (QEMU's cores, test/qemu/qemu_io.h, qemu_targets.py).
// The stream and the options come from a generated online_inputs.h:
//   #define ONLINE_K, ONLINE_D, ONLINE_COV (0 full, 2 diag), ONLINE_WARM, ONLINE_ADAPT (0: scratch)
//   namespace inputs { N, EVERY, X[N * D] (flash), CFG (floats: alpha t0 gamma_floor reg_covar
//                      min_weight x_limit quantile max_tail), SEED, and with ONLINE_ADAPT W0[K], M0[K*D], C0[...] }
// Output: "S <statuses>" lines (one character per learn call: o ok, w warming, b bad input, f far),
// then every EVERY steps and at the end
//   P <t> <weights> <means> <covariances> <threshold>   (each value as the 8 hex digits of its float's bits)
// then "R 1" when saving after the last step, wiping the state, loading and saving again gives the
// same bytes, and "END".
#include "tinygmm_online.h"
#if defined(ONLINE_QEMU)
#include "qemu_io.h"  // test/qemu: semihosting output on the 32-bit cores
#else
#include "../avr/avr_uart.h"
#endif
#include "online_inputs.h"

typedef tinygmm::OnlineGMM<ONLINE_K, ONLINE_D, ONLINE_COV, ONLINE_WARM> Learner;
static const int NCOV = ONLINE_COV == 0 ? ONLINE_K * ONLINE_D * ONLINE_D : ONLINE_K * ONLINE_D;

static void put_hex(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uart_putc(' ');
  for (int s = 28; s >= 0; s -= 4) uart_putc("0123456789abcdef"[(u >> s) & 15u]);
}

static float rd(const float* p) {
#if defined(__AVR__)
  return pgm_read_float(p);
#else
  return *p;
#endif
}

static Learner g;
#if defined(ONLINE_QEMU)
static uint32_t learn_ticks = 0;  // counter ticks spent in learn (see qemu_io.h), printed as "C ..."
#endif
static uint8_t buf[Learner::STATE_BYTES];

static void dump() {
  float w[ONLINE_K], m[ONLINE_K * ONLINE_D], c[NCOV];
  g.get_params(w, m, c);
  uart_putc('P');
  uart_put_int((long)g.samples_seen());
  for (int i = 0; i < ONLINE_K; ++i) put_hex(w[i]);
  for (int i = 0; i < ONLINE_K * ONLINE_D; ++i) put_hex(m[i]);
  for (int i = 0; i < NCOV; ++i) put_hex(c[i]);
  put_hex(g.threshold());
  uart_putc('\n');
}

int main() {
  uart_init();
  tinygmm::OnlineConfig cfg;
  cfg.alpha = rd(inputs::CFG + 0);
  cfg.t0 = rd(inputs::CFG + 1);
  cfg.gamma_floor = rd(inputs::CFG + 2);
  cfg.reg_covar = rd(inputs::CFG + 3);
  cfg.min_weight = rd(inputs::CFG + 4);
  cfg.x_limit = rd(inputs::CFG + 5);
  cfg.quantile = rd(inputs::CFG + 6);
  cfg.max_tail = rd(inputs::CFG + 7);
  cfg.seed = inputs::SEED;
#if ONLINE_ADAPT
  {
    float w0[ONLINE_K], m0[ONLINE_K * ONLINE_D], c0[NCOV];
    for (int i = 0; i < ONLINE_K; ++i) w0[i] = rd(inputs::W0 + i);
    for (int i = 0; i < ONLINE_K * ONLINE_D; ++i) m0[i] = rd(inputs::M0 + i);
    for (int i = 0; i < NCOV; ++i) c0[i] = rd(inputs::C0 + i);
    if (g.begin(cfg, w0, m0, c0) != tinygmm::ONLINE_OK) uart_puts_flash(RUNNER_STR("BADMODEL\n"));
  }
#else
  g.begin_scratch(cfg);
#endif
  uart_putc('S');
  uart_putc(' ');
  float x[ONLINE_D];
  for (long i = 0; i < (long)inputs::N; ++i) {
    for (int d = 0; d < ONLINE_D; ++d) x[d] = rd(inputs::X + i * ONLINE_D + d);
#if defined(ONLINE_QEMU)
    const uint32_t c0 = counter();
    const int st = g.learn(x);
    learn_ticks += (counter() - c0) & COUNTER_MASK;
#else
    const int st = g.learn(x);
#endif
    uart_putc(st == 0 ? 'o' : st == 1 ? 'w' : st == -1 ? 'b' : st == -2 ? 'f' : '?');
    if ((i + 1) % 64 == 0) uart_puts_flash(RUNNER_STR("\nS "));
    if (inputs::EVERY > 0 && (i + 1) % inputs::EVERY == 0 && g.ready()) {
      uart_putc('\n');
      dump();
      uart_puts_flash(RUNNER_STR("S "));
    }
  }
  uart_putc('\n');
  if (g.ready()) dump();
#if defined(ONLINE_QEMU)
  uint32_t predict_ticks = 0;
  int sink = 0;
  for (long i = 0; i < (long)inputs::N; ++i) {
    for (int d = 0; d < ONLINE_D; ++d) x[d] = rd(inputs::X + i * ONLINE_D + d);
    const uint32_t c0 = counter();
    sink += g.predict(x);
    predict_ticks += (counter() - c0) & COUNTER_MASK;
  }
  uart_putc('C');
  uart_put_int((long)learn_ticks);
  uart_put_int((long)predict_ticks);
  uart_put_int(sink & 1);
  uart_putc('\n');
#endif
  // save, wipe, load, save again: the same bytes (compared by their CRC-32: one buffer fits an Uno)
  const size_t n = g.save(buf, sizeof buf);
  const uint32_t crc1 = tinygmm::online_detail::crc32(buf, n);
  g.begin_scratch(cfg);
  const int st = g.load(buf, n);
  const size_t n2 = g.save(buf, sizeof buf);
  uart_putc('R');
  uart_put_int(st == 0 && n == sizeof buf && n2 == n && tinygmm::online_detail::crc32(buf, n2) == crc1 ? 1 : 0);
  uart_putc('\n');
  uart_puts_flash(RUNNER_STR("END\n"));
  halt();
  return 0;
}
