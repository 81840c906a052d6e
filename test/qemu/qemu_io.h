// qemu_io.h - text output, an instruction counter and exit for the bare-metal
// runner in test/qemu, under QEMU, and its host stand-in (stdout).
//
// Output goes through semihosting, one call per line (a line buffer, so the
// cost of a trap into QEMU is paid once per line, not per character):
//   ARM (Cortex-M):  bkpt 0xab, SYS_WRITE0 / SYS_EXIT   (qemu-system-arm -semihosting)
//   RISC-V:          slli/ebreak/srai, same operations  (qemu-system-riscv32 -semihosting)
//   Xtensa:          simcall write(1, ...) / exit        (qemu-system-xtensa -semihosting)
//
// counter() counts executed instructions when QEMU runs with -icount shift=N
// (virtual time = instructions * 2^N ns): RISC-V reads minstret, which QEMU
// then takes from the instruction count; Cortex-M reads SysTick (core clock,
// 25 MHz on the MPS2 boards, 16 MHz on the micro:bit, down-counting, 24 bits)
// and Xtensa CCOUNT. The test converts ticks to instructions with the
// board's clock and the shift (test/python/qemu_targets.py).
#ifndef TINYGMM_TEST_QEMU_IO_H
#define TINYGMM_TEST_QEMU_IO_H

#include <stddef.h>
#include <stdint.h>

#define RUNNER_FLASH
#define RUNNER_STR(s) (s)
#define RUNNER_BYTE(p) (*(p))

#if defined(__arm__) || defined(__riscv)
#define QEMU_SYS_WRITE0 0x04
#define QEMU_SYS_EXIT 0x18
#define QEMU_ADP_STOPPED_APPLICATION_EXIT 0x20026
#define QEMU_ADP_STOPPED_RUN_TIME_ERROR 0x20023
static inline void qemu_semihost(uintptr_t op, uintptr_t arg) {
#if defined(__arm__)
  register uintptr_t r0 __asm__("r0") = op;
  register uintptr_t r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
#else
  register uintptr_t a0 __asm__("a0") = op;
  register uintptr_t a1 __asm__("a1") = arg;
  // The semihosting marker: these three uncompressed instructions, in this order.
  __asm__ volatile(
      ".option push\n\t.option norvc\n\t.balign 16\n\t"
      "slli zero, zero, 0x1f\n\tebreak\n\tsrai zero, zero, 0x7\n\t.option pop"
      : "+r"(a0)
      : "r"(a1)
      : "memory");
#endif
}
static inline void qemu_write_line(const char* s, size_t) { qemu_semihost(QEMU_SYS_WRITE0, (uintptr_t)s); }
static inline void qemu_exit(int code) {
  qemu_semihost(QEMU_SYS_EXIT, code == 0 ? QEMU_ADP_STOPPED_APPLICATION_EXIT : QEMU_ADP_STOPPED_RUN_TIME_ERROR);
  for (;;) {
  }
}

#elif defined(__XTENSA__)
// QEMU's xtensa ISS simcalls (target/xtensa/xtensa-semi.c): a2 = call, a3.. = args.
static inline int qemu_simcall(int call, int a, const void* b, size_t c) {
  register int a2 __asm__("a2") = call;
  register int a3 __asm__("a3") = a;
  register const void* a4 __asm__("a4") = b;
  register size_t a5 __asm__("a5") = c;
  __asm__ volatile("simcall" : "+r"(a2) : "r"(a3), "r"(a4), "r"(a5) : "memory");
  return a2;
}
static inline void qemu_write_line(const char* s, size_t n) { qemu_simcall(4, 1, s, n); }  // write(1, s, n)
static inline void qemu_exit(int code) {
  qemu_simcall(1, code, 0, 0);  // exit(code)
  for (;;) {
  }
}

#else  // host
#include <stdio.h>
#include <stdlib.h>
static inline void qemu_write_line(const char* s, size_t n) { fwrite(s, 1, n, stdout); }
static inline void qemu_exit(int code) {
  fflush(stdout);
  exit(code);
}
#endif

// ---- instruction counter -------------------------------------------------------

#if defined(__arm__)
#define QEMU_SYST_CSR (*(volatile uint32_t*)0xE000E010u)
#define QEMU_SYST_RVR (*(volatile uint32_t*)0xE000E014u)
#define QEMU_SYST_CVR (*(volatile uint32_t*)0xE000E018u)
static inline void counter_init() {
  QEMU_SYST_RVR = 0x00FFFFFFu;
  QEMU_SYST_CVR = 0;
  QEMU_SYST_CSR = 5;  // enable, core clock, no interrupt
}
// ticks, counting up, modulo 2^24
static inline uint32_t counter() { return (0x00FFFFFFu - QEMU_SYST_CVR) & 0x00FFFFFFu; }
static const uint32_t COUNTER_MASK = 0x00FFFFFFu;
#elif defined(__riscv)
static inline void counter_init() {}
static inline uint32_t counter() {
  uint32_t v;
  // Debian's multilib is rv32imc (no _zicsr in -march): enable Zicsr for this instruction only
  __asm__ volatile(".option push\n\t.option arch, +zicsr\n\tcsrr %0, minstret\n\t.option pop" : "=r"(v));
  return v;
}
static const uint32_t COUNTER_MASK = 0xFFFFFFFFu;
#elif defined(__XTENSA__)
static inline void counter_init() {}
static inline uint32_t counter() {
  uint32_t v;
  __asm__ volatile("rsr.ccount %0" : "=a"(v));
  return v;
}
static const uint32_t COUNTER_MASK = 0xFFFFFFFFu;
#else
static inline void counter_init() {}
static inline uint32_t counter() { return 0; }
static const uint32_t COUNTER_MASK = 0xFFFFFFFFu;
#endif

// ---- line-buffered text ----------------------------------------------------------

static char qemu_line[257];
static size_t qemu_len = 0;

static inline void uart_flush() {
  qemu_line[qemu_len] = 0;
  if (qemu_len) qemu_write_line(qemu_line, qemu_len);
  qemu_len = 0;
}

static inline void uart_init() { counter_init(); }

static inline void uart_putc(char c) {
  // SYS_WRITE0 stops at a NUL: send one as the two characters "\0" (never expected)
  if (c == 0) {
    uart_putc('\\');
    uart_putc('0');
    return;
  }
  qemu_line[qemu_len++] = c;
  if (c == '\n' || qemu_len == sizeof qemu_line - 1) uart_flush();
}

static inline void halt() {
  uart_flush();
  qemu_exit(0);
}

static inline void uart_write(const char* data, size_t len) {
  for (size_t i = 0; i < len; ++i) uart_putc(data[i]);
}

static inline void uart_puts_flash(const char* s) {
  while (*s) uart_putc(*s++);
}

#include "../common/uart_text.h"

#endif  // TINYGMM_TEST_QEMU_IO_H
