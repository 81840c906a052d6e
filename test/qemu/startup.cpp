// startup.cpp - reset code for the bare-metal runner in test/qemu (no vendor
// SDK, no libc start files): set the stack, copy .data, zero .bss, run the
// static constructors, call main, and exit through semihosting (qemu_io.h).
// Memory layout: link.ld. Cortex-M takes its initial SP and PC from the vector
// table; RISC-V and Xtensa start at _start (the ELF entry point).
#include <stdint.h>
#include <string.h>

#include "qemu_io.h"

extern "C" {
extern uint32_t __stack_top, __data_start, __data_end, __data_load, __bss_start, __bss_end;
extern uint32_t __tls_base, __tdata_end, __tdata_load, __tbss_size;
typedef void (*init_fn)();
extern init_fn __init_array_start[], __init_array_end[];
int main();

void runner_start() {
  memcpy(&__data_start, &__data_load,
         static_cast<size_t>(reinterpret_cast<char*>(&__data_end) - reinterpret_cast<char*>(&__data_start)));
  memset(&__bss_start, 0,
         static_cast<size_t>(reinterpret_cast<char*>(&__bss_end) - reinterpret_cast<char*>(&__bss_start)));
  const size_t tdata = static_cast<size_t>(reinterpret_cast<char*>(&__tdata_end) - reinterpret_cast<char*>(&__tls_base));
  memcpy(&__tls_base, &__tdata_load, tdata);
  memset(&__tdata_end, 0, reinterpret_cast<uintptr_t>(&__tbss_size));
#if defined(__riscv)
  __asm__ volatile("mv tp, %0" ::"r"(&__tls_base));
#endif
  for (init_fn* f = __init_array_start; f < __init_array_end; ++f) (*f)();
  qemu_exit(main());
}

#if defined(__arm__)
void Reset_Handler() {
#if defined(__ARM_FP)
  // CPACR: full access to CP10/CP11 before the first floating-point instruction
  *reinterpret_cast<volatile uint32_t*>(0xE000ED88u) |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  runner_start();
}

void Fault_Handler() {
  qemu_write_line("FAULT\n", 6);
  qemu_exit(1);
}

__attribute__((section(".vectors"), used)) void (*const runner_vectors[16])() = {
    reinterpret_cast<void (*)()>(&__stack_top),
    Reset_Handler,
    Fault_Handler,  // NMI
    Fault_Handler,  // HardFault
    Fault_Handler,  // MemManage
    Fault_Handler,  // BusFault
    Fault_Handler,  // UsageFault
    Fault_Handler,  // SecureFault (v8-M)
    0,
    0,
    0,
    Fault_Handler,  // SVCall
    Fault_Handler,  // DebugMonitor
    0,
    Fault_Handler,  // PendSV
    Fault_Handler,  // SysTick
};

#elif defined(__riscv)
__asm__(
    ".pushsection .text.start, \"ax\"\n"
    ".globl _start\n"
    "_start:\n"
    "  la sp, __stack_top\n"
    "  call runner_start\n"
    "1: j 1b\n"
    ".popsection\n");

#elif defined(__XTENSA__)
// QEMU's sim machine starts an lx106 at its reset vector, 0x50000000, where nothing is
// mapped; the fetch error is taken (PS.EXCM is set at reset) at the double exception
// vector, VECBASE + 0x70 = __flash + 0x70. Both slots jump to _start, which clears
// PS.EXCM (interrupts stay masked) before running C code.
__asm__(
    ".pushsection .vectors, \"ax\"\n"
    "  j _start\n"
    ".org 0x70\n"
    "  j _start\n"
    ".popsection\n"
    ".pushsection .text.start, \"ax\"\n"
    ".literal_position\n"
    ".literal .Lstack, __stack_top\n"
    ".literal .Lentry, runner_start\n"
    ".globl _start\n"
    ".align 4\n"
    "_start:\n"
    "  movi a0, 0x2F\n"
    "  wsr.ps a0\n"
    "  rsync\n"
    "  l32r a1, .Lstack\n"
    "  l32r a0, .Lentry\n"
    "  callx0 a0\n"
    "1: j 1b\n"
    ".popsection\n");
#endif
}
