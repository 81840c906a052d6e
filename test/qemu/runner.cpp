// runner.cpp - several exported models and the serial protocol in one
// bare-metal program, for test/python/test_qemu.py: built for each QEMU target
// (Cortex-M0/M4F/M33, RV32IMC, Xtensa lx106) and, from the same source, for
// the host with g++, so the two outputs can be compared line by line.
//
// The test writes runner_models.h:
//   #include "<name>.h"        each model's header, exported with --namespace <name> --fixed-point
//                              and an anomaly threshold (a pipeline's with its PCA projection)
//   #include "<name>_in.h"     namespace <name>_in { NG, XG[NG*D], FAR[NG];   golden inputs
//                                                    NP, XP[NP*D], ZD,        predict inputs
//                                                    ZQ[NP*ZD]; }  (ZD: N_DIMS after a projection)
//   #define RUNNER_MODELS(X) X(<name>) X(<name>) ...
// and protocol_script.h (static const char SCRIPT[] = "...", as for test/avr).
//
// Output (floats as the 8 hex digits of their IEEE-754 bits):
//   MODEL <name> <NG> <D> <K> <model-hash> <ANOMALY_THRESHOLD>
//   V <i> <far> <predict> <classify-label> <predict_proba-argmax> <classify-ticks>
//     <classify-ll> <score_samples> x[0..D-1] proba[0..K-1]            NG lines
//   P <i> <predict> <predict_q> <in> zq[0..ZD-1] <predict_fixed(ZQ[i])>  NP lines
//   A <i> <is_anomaly> <is_anomaly_q> <is_anomaly_fixed(ZQ[i])>
//     <score_samples> <decision_function>                              NP lines
//   CAL 20000 <ticks for 20000 instructions>                          first line
//   C <name> <ticks of predict, predict_fixed and an empty call, summed over the NP inputs>
//   READY/OK/INFO/ERR ...      the protocol's replies to SCRIPT, fed 1..7 bytes at a time
//   END replies=<n>
// Ticks come from qemu_io.h's counter() (0 on the host).
#include <string.h>

#include "qemu_io.h"
#include "runner_models.h"
#include "tinygmm_device.h"
#include "tinygmm_protocol.h"

#include "protocol_script.h"

static void put_hex(float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  uart_putc(' ');
  for (int shift = 28; shift >= 0; shift -= 4) uart_putc("0123456789abcdef"[(bits >> shift) & 15]);
}

static uint32_t elapsed(uint32_t start) { return (counter() - start) & COUNTER_MASK; }

// volatile sinks keep the timed calls from being optimised away
static volatile int sink;
__attribute__((noinline)) static int empty_call(const float* x) { return x != 0; }

static void uart_put_u64(uint64_t v) {
  char buf[21];
  char* p = buf + sizeof buf;
  *--p = 0;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  uart_putc(' ');
  uart_puts(p);
}

// Ticks per instruction: a loop of exactly 2 * n instructions
// (decrement, branch if not zero), timed once.
static void calibrate() {
  uint32_t n = 10000;
  const uint32_t t0 = counter();
#if defined(__arm__) && defined(__ARM_ARCH_6M__)
  __asm__ volatile("1: sub %0, #1\n\tbne 1b" : "+l"(n) : : "cc");  // GCC's divided syntax: SUBS
#elif defined(__arm__)
  __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
#elif defined(__riscv) || defined(__XTENSA__)
  __asm__ volatile("1: addi %0, %0, -1\n\tbnez %0, 1b" : "+r"(n));
#else
  (void)n;
#endif
  const uint32_t ticks = elapsed(t0);
  uart_puts("CAL 20000");
  uart_put_u64(ticks);
  uart_putc('\n');
}

#define RUNNER_DEFINE(NS)                                                                  \
  struct NS##_t {                                                                          \
    enum { D = NS::N_FEATURES, K = NS::N_COMPONENTS, ZD = NS##_in::ZD };                  \
    static const char* name() { return #NS; }                                              \
    static const char* hash() { return NS::MODEL_HASH; }                                   \
    static int ng() { return NS##_in::NG; }                                                \
    static int np() { return NS##_in::NP; }                                                \
    static const float* xg() { return NS##_in::XG; }                                       \
    static const float* xp() { return NS##_in::XP; }                                       \
    static const int16_t* zq() { return NS##_in::ZQ; }                                     \
    static int far(int i) { return NS##_in::FAR[i]; }                                      \
    static int predict(const float* x) { return NS::predict(x); }                          \
    static int predict_proba(const float* x, float* p) { return NS::predict_proba(x, p); } \
    static float score_samples(const float* x) { return NS::score_samples(x); }            \
    static int classify(const float* x, float* p, float* ll) { return NS::classify(x, p, ll); } \
    static int predict_q(const float* x) { return NS::predict_q(x); }                      \
    static bool quantize(const float* x, int16_t* zq) { return NS::quantize(x, zq); }      \
    static int predict_fixed(const int16_t* zq) { return NS::predict_fixed(zq); }          \
    static float threshold() { return NS::ANOMALY_THRESHOLD; }                             \
    static bool is_anomaly(const float* x) { return NS::is_anomaly(x); }                   \
    static bool is_anomaly_q(const float* x) { return NS::is_anomaly_q(x); }               \
    static int is_anomaly_fixed(const int16_t* zq) { return NS::is_anomaly_fixed(zq); }    \
    static float decision_function(const float* x) { return NS::decision_function(x); }    \
  };
RUNNER_MODELS(RUNNER_DEFINE)

template <class M>
static void run_model() {
  uart_puts("MODEL ");
  uart_puts(M::name());
  uart_put_int(M::ng());
  uart_put_int(M::D);
  uart_put_int(M::K);
  uart_putc(' ');
  uart_puts(M::hash());
  put_hex(M::threshold());
  uart_putc('\n');

  float x[M::D];
  float proba[M::K];
  float proba2[M::K];
  for (int i = 0; i < M::ng(); ++i) {
    for (int d = 0; d < M::D; ++d) x[d] = M::xg()[i * M::D + d];
    float ll = 0.0f;
    const uint32_t t0 = counter();
    const int label = M::classify(x, proba, &ll);
    const uint32_t ticks = elapsed(t0);
    const int predicted = M::predict(x);
    const int argmax = M::predict_proba(x, proba2);
    const float score = M::score_samples(x);
    uart_putc('V');
    uart_put_int(i);
    uart_put_int(M::far(i));
    uart_put_int(predicted);
    uart_put_int(label);
    uart_put_int(argmax);
    uart_putc(' ');
    uart_putu(ticks);
    put_hex(ll);
    put_hex(score);
    for (int d = 0; d < M::D; ++d) put_hex(x[d]);
    for (int k = 0; k < M::K; ++k) put_hex(proba2[k]);
    uart_putc('\n');
  }

  int16_t zq[M::ZD];
  for (int i = 0; i < M::np(); ++i) {
    for (int d = 0; d < M::D; ++d) x[d] = M::xp()[i * M::D + d];
    uart_putc('P');
    uart_put_int(i);
    uart_put_int(M::predict(x));
    uart_put_int(M::predict_q(x));
    const bool in = M::quantize(x, zq);
    uart_put_int(in ? 1 : 0);
    for (int d = 0; d < M::ZD; ++d) uart_put_int(in ? zq[d] : 0);
    for (int d = 0; d < M::ZD; ++d) zq[d] = M::zq()[i * M::ZD + d];
    uart_put_int(M::predict_fixed(zq));
    uart_putc('\n');
  }

  for (int i = 0; i < M::np(); ++i) {
    for (int d = 0; d < M::D; ++d) x[d] = M::xp()[i * M::D + d];
    for (int d = 0; d < M::ZD; ++d) zq[d] = M::zq()[i * M::ZD + d];
    uart_putc('A');
    uart_put_int(i);
    uart_put_int(M::is_anomaly(x) ? 1 : 0);
    uart_put_int(M::is_anomaly_q(x) ? 1 : 0);
    uart_put_int(M::is_anomaly_fixed(zq));
    put_hex(M::score_samples(x));
    put_hex(M::decision_function(x));
    uart_putc('\n');
  }

  // cost: the sum over the predict inputs of each call's ticks, and of an empty call's
  uint64_t t_float = 0, t_fixed = 0, t_empty = 0;
  for (int i = 0; i < M::np(); ++i) {
    const float* xi = M::xp() + i * M::D;
    const int16_t* zi = M::zq() + i * M::ZD;
    uint32_t t0 = counter();
    sink = M::predict(xi);
    t_float += elapsed(t0);
    t0 = counter();
    sink = M::predict_fixed(zi);
    t_fixed += elapsed(t0);
    t0 = counter();
    sink = empty_call(xi);
    t_empty += elapsed(t0);
  }
  uart_puts("C ");
  uart_puts(M::name());
  uart_put_u64(t_float);
  uart_put_u64(t_fixed);
  uart_put_u64(t_empty);
  uart_putc('\n');
}

static void write_reply(void*, const char* data, size_t len) { uart_write(data, len); }

static void run_protocol() {
  tinygmm_device::Protocol protocol(tinygmm_device::MODEL, write_reply, 0);
  protocol.begin();
  const size_t n = sizeof SCRIPT - 1;  // without the literal's own NUL
  size_t i = 0;
  uint8_t chunk = 1;
  char buf[8];
  while (i < n) {
    if (chunk == 1) {
      protocol.feed(SCRIPT[i]);
      ++i;
    } else {
      size_t m = 0;
      while (m < chunk && i < n) buf[m++] = SCRIPT[i++];
      protocol.feed(buf, m);
    }
    chunk = static_cast<uint8_t>(chunk % 7 + 1);
  }
  uart_puts("END replies=");
  uart_putu(protocol.replies());
  uart_putc('\n');
}

#define RUNNER_RUN(NS) run_model<NS##_t>();

int main() {
  uart_init();
  calibrate();
  RUNNER_MODELS(RUNNER_RUN)
  run_protocol();
  halt();
  return 0;
}
