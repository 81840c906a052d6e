// tinygmm_avr_kernel.h - predict for full-covariance models on AVR, in assembly.
//
// Pasted into a generated GMM.h only when the model can use it (full covariance,
// no float-pair means, D <= 8); compiled only on AVR with MUL and LPM Rd, Z+
// (define TINYGMM_NO_ASM to use the C++ predict instead). See docs/runtime.md.
#ifndef TINYGMM_AVR_KERNEL_H
#define TINYGMM_AVR_KERNEL_H

#include "tinygmm_platform.h"

namespace tinygmm {

#if TINYGMM_AVR_KERNEL
// predict for full-covariance models on AVR, hand-written for size (the
// whole of predict: transform, start hint, visiting loop, overflow retry):
// one loop over columns instead of the unrolled C++ code, the state in one
// stack frame, the tables' addresses as immediates (flash figures in
// docs/runtime.md).
// It performs the same float operations (avr-libc's __subsf3 / __mulsf3 /
// __addsf3, in the same order) with the same visiting order, bound,
// partial-sum pruning and tie rule as the C++ code (tinygmm_predict.h), so its answer is
// identical; test_avr_sim.py checks it against the host build of the C++
// code. avr-gcc ABI: arguments in r24:r25, r22:r23, ...; r2-r17 and Y are
// saved here; the float routines clobber r18-r27, r30, r31, r0 and T only.
// K, D, the record size, the number of hint bins and the tables' addresses
// are immediates. Frame (from Y+1): best_key 4, c 4, best, k, first, next,
// retries, w[D], d[D] (w - mean, this component).
template <int K, int D, int RB, int NB, const float* RECORDS, const uint8_t* ORDER, const float* OFFSET,
          const uint8_t* PERM, const int32_t* EDGES, const uint8_t* FIRST>
__attribute__((naked, noinline)) uint8_t full_predict(const float*) {
  __asm__ volatile(
      "push r2\n push r3\n push r4\n push r5\n push r6\n push r7\n push r8\n push r9\n push r10\n push r11\n"
      "push r12\n push r13\n push r14\n push r15\n push r16\n push r17\n push r28\n push r29\n"
      "in r28, __SP_L__\n in r29, __SP_H__\n"
      "subi r28, lo8(%[frame])\n sbci r29, hi8(%[frame])\n"
      "in r0, __SREG__\n cli\n out __SP_H__, r29\n out __SREG__, r0\n out __SP_L__, r28\n"
      "ldi r26, 20\n std Y+13, r26\n"  // retries
      // w[i] = x[perm[i]] - offset[i]
      "movw r2, r24\n"
      "ldi r26, lo8(%[off])\n ldi r27, hi8(%[off])\n movw r4, r26\n"
      "ldi r26, lo8(%[perm])\n ldi r27, hi8(%[perm])\n movw r6, r26\n"
      "movw r26, r28\n adiw r26, 14\n movw r8, r26\n"
      "ldi r17, %[d]\n"
      "1:\n"
      "movw r30, r6\n lpm r24, Z+\n movw r6, r30\n"
      "lsl r24\n lsl r24\n"
      "movw r26, r2\n add r26, r24\n adc r27, __zero_reg__\n"
      "ld r22, X+\n ld r23, X+\n ld r24, X+\n ld r25, X+\n"
      "movw r30, r4\n lpm r18, Z+\n lpm r19, Z+\n lpm r20, Z+\n lpm r21, Z+\n movw r4, r30\n"
      "%~call __subsf3\n"
      "movw r26, r8\n st X+, r22\n st X+, r23\n st X+, r24\n st X+, r25\n movw r8, r26\n"
      "dec r17\n brne 1b\n"
      // first = hint_first[number of edges <= w[0]] (keys), or none
      ".if %[nb] > 1\n"
      "ldd r22, Y+14\n ldd r23, Y+15\n ldd r24, Y+16\n ldd r25, Y+17\n"
      "rcall 20f\n"
      "ldi r30, lo8(%[edges])\n ldi r31, hi8(%[edges])\n"
      "clr r16\n"
      "ldi r17, %[nb] - 1\n"
      "2:\n"
      "lpm r18, Z+\n lpm r19, Z+\n lpm r20, Z+\n lpm r21, Z+\n"
      "cp r22, r18\n cpc r23, r19\n cpc r24, r20\n cpc r25, r21\n"
      "brlt 3f\n"
      "inc r16\n dec r17\n brne 2b\n"
      "3:\n"
      "ldi r30, lo8(%[first])\n ldi r31, hi8(%[first])\n add r30, r16\n adc r31, __zero_reg__\n lpm r24, Z\n"
      ".else\n"
      "ldi r24, 0xFF\n"
      ".endif\n"
      "std Y+11, r24\n"
      "4:\n"  // one pass over the records
      "ldi r24, %[k]\n std Y+9, r24\n"  // best: none; best_key = order_key(-inf), which a tie with "none" beats
      "ldi r24, 0xFF\n std Y+1, r24\n std Y+2, r24\n ldi r24, 0x7F\n std Y+3, r24\n ldi r24, 0x80\n std Y+4, r24\n"
      "std Y+12, __zero_reg__\n"  // next
      "ldd r24, Y+11\n tst r24\n brmi 5f\n rcall 10f\n"
      "5:\n"  // the others in order, skipping first
      "ldd r24, Y+12\n cpi r24, %[k]\n brsh 6f\n"
      "mov r25, r24\n inc r25\n std Y+12, r25\n"
      "ldd r25, Y+11\n cp r24, r25\n breq 5b\n"
      "rcall 10f\n"
      "brtc 5b\n"  // T: the bound says no later record can win
      "6:\n"  // a finite winner? order_key - order_key(-inf) - 1 must not have 0xFF on top
      "ldd r24, Y+3\n ldd r25, Y+4\n subi r24, 0x80\n sbci r25, 0x80\n cpi r25, 0xFF\n brne 8f\n"
      "ldd r24, Y+13\n dec r24\n std Y+13, r24\n breq 9f\n"  // NaN input: 0
      "movw r26, r28\n adiw r26, 14\n movw r8, r26\n"  // w *= 2^-8 (exact), and again
      "ldi r17, %[d]\n"
      "7:\n"
      "movw r26, r8\n ld r22, X+\n ld r23, X+\n ld r24, X+\n ld r25, X+\n"
      "ldi r18, 0\n ldi r19, 0\n ldi r20, 0x80\n ldi r21, 0x3B\n"
      "%~call __mulsf3\n"
      "movw r26, r8\n st X+, r22\n st X+, r23\n st X+, r24\n st X+, r25\n movw r8, r26\n"
      "dec r17\n brne 7b\n"
      "rjmp 4b\n"
      "8:\n"
      "ldd r24, Y+9\n"
      "9:\n"
      "subi r28, lo8(-(%[frame]))\n sbci r29, hi8(-(%[frame]))\n"
      "in r0, __SREG__\n cli\n out __SP_H__, r29\n out __SREG__, r0\n out __SP_L__, r28\n"
      "pop r29\n pop r28\n pop r17\n pop r16\n pop r15\n pop r14\n pop r13\n pop r12\n pop r11\n pop r10\n"
      "pop r9\n pop r8\n pop r7\n pop r6\n pop r5\n pop r4\n pop r3\n pop r2\n"
      "ret\n"

      "10:\n"  // evaluate record r24; T set: its bound cannot win
      "ldi r30, lo8(%[order])\n ldi r31, hi8(%[order])\n add r30, r24\n adc r31, __zero_reg__\n"
      "lpm r25, Z\n std Y+10, r25\n"  // k = order[j]
      "ldi r18, %[rb]\n mul r24, r18\n"
      "ldi r30, lo8(%[rec])\n ldi r31, hi8(%[rec])\n add r30, r0\n adc r31, r1\n clr __zero_reg__\n"
      "lpm r22, Z+\n lpm r23, Z+\n lpm r24, Z+\n lpm r25, Z+\n movw r10, r30\n"  // c
      "std Y+5, r22\n std Y+6, r23\n std Y+7, r24\n std Y+8, r25\n"
      "rcall 21f\n"
      "brcs 12f\n"
      "set\n ret\n"
      "12:\n"
      "movw r14, r28\n ldi r16, 14\n add r14, r16\n adc r15, __zero_reg__\n"  // &w[0]
      "clr r16\n"  // column j
      "13:\n"
      "movw r26, r14\n ld r22, X+\n ld r23, X+\n ld r24, X+\n ld r25, X+\n movw r14, r26\n"
      "movw r30, r10\n lpm r18, Z+\n lpm r19, Z+\n lpm r20, Z+\n lpm r21, Z+\n movw r10, r30\n"
      "%~call __subsf3\n"  // d_j = w_j - mean_j, at d[j] = w[j] + 4 D
      "movw r26, r14\n adiw r26, %[d4] - 4\n st X+, r22\n st X+, r23\n st X+, r24\n st X+, r25\n"
      "movw r12, r28\n ldi r17, 14 + %[d4]\n add r12, r17\n adc r13, __zero_reg__\n"  // &d[0]
      "mov r17, r16\n inc r17\n"
      "14:\n"  // y = d_0 U_0j + ... + d_j U_jj
      "movw r26, r12\n ld r22, X+\n ld r23, X+\n ld r24, X+\n ld r25, X+\n movw r12, r26\n"
      "movw r30, r10\n lpm r18, Z+\n lpm r19, Z+\n lpm r20, Z+\n lpm r21, Z+\n movw r10, r30\n"
      "%~call __mulsf3\n"
      "cp r16, r17\n brcs 15f\n"  // the first product starts the sum
      "movw r18, r6\n movw r20, r8\n %~call __addsf3\n"
      "15:\n"
      "movw r6, r22\n movw r8, r24\n"
      "dec r17\n brne 14b\n"
      "movw r18, r22\n movw r20, r24\n %~call __mulsf3\n"  // y^2
      "tst r16\n breq 16f\n"
      "movw r18, r2\n movw r20, r4\n %~call __addsf3\n"
      "16:\n"
      "movw r2, r22\n movw r4, r24\n"  // q
      "movw r18, r22\n movw r20, r24\n"
      "ldd r22, Y+5\n ldd r23, Y+6\n ldd r24, Y+7\n ldd r25, Y+8\n"
      "%~call __subsf3\n"  // c - q
      "rcall 21f\n"
      "brcc 17f\n"  // cannot win any more
      "inc r16\n cpi r16, %[d]\n brsh 18f\n rjmp 13b\n"
      "18:\n"
      "std Y+1, r22\n std Y+2, r23\n std Y+3, r24\n std Y+4, r25\n"  // the new best
      "ldd r24, Y+10\n std Y+9, r24\n"
      "17:\n"
      "clt\n"  // (the float routines may have changed T)
      "ret\n"

      "20:\n"  // r22:r25 = order_key(r22:r25)
      "sbrs r25, 7\n ret\n"
      "com r22\n com r23\n com r24\n com r25\n subi r25, 0x80\n"
      "ret\n"

      "21:\n"  // r22:r25 = order_key(float r22:r25); carry set if it beats the best (a tie if k < best)
      "rcall 20b\n"
      "ldd r18, Y+1\n ldd r19, Y+2\n ldd r20, Y+3\n ldd r21, Y+4\n"
      "cp r18, r22\n cpc r19, r23\n cpc r20, r24\n cpc r21, r25\n"
      "brne 22f\n"
      "ldd r18, Y+10\n ldd r19, Y+9\n cp r18, r19\n"  // equal: carry = k < best
      "ret\n"
      "22:\n"
      "sec\n brlt 23f\n clc\n"  // best < key
      "23:\n"
      "ret\n" ::[k] "n"(K),
      [d] "n"(D), [d4] "n"(4 * D), [rb] "n"(RB), [nb] "n"(NB), [frame] "n"(13 + 8 * D), [rec] "i"(RECORDS),
      [order] "i"(ORDER), [off] "i"(OFFSET), [perm] "i"(PERM), [edges] "i"(EDGES), [first] "i"(FIRST)
      : "memory");
}
#endif

}  // namespace tinygmm

#endif  // TINYGMM_AVR_KERNEL_H
