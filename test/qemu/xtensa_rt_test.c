/* xtensa_rt_test.c - compares test/qemu/xtensa_rt.c, built for the host with
   -DRT_HOST_TEST (functions named rt_*), with the host's IEEE-754 arithmetic
   on random operands: bit patterns of every kind, with extra weight on tiny
   exponents (subnormals), infinities and near-equal pairs (cancellation).
   Usage: xtensa_rt_test [cases]; prints "<n> cases, <m> mismatches", exit 1 if m > 0.
   Build with -ffp-contract=off (and SSE on x86) so the reference rounds each operation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
float rt_addsf3(float, float); float rt_subsf3(float, float); float rt_mulsf3(float, float);
double rt_adddf3(double, double); double rt_subdf3(double, double); double rt_muldf3(double, double); double rt_divdf3(double, double);
float rt_floatsisf(int32_t); double rt_floatunsidf(uint32_t); double rt_floatsidf(int32_t); double rt_extendsfdf2(float); float rt_truncdfsf2(double); uint32_t rt_fixunsdfsi(double);
uint32_t rt_udivsi3(uint32_t, uint32_t); uint32_t rt_umodsi3(uint32_t, uint32_t); int32_t rt_divsi3(int32_t, int32_t);
uint64_t rt_udivdi3(uint64_t, uint64_t); uint64_t rt_umoddi3(uint64_t, uint64_t); uint64_t rt_muldi3(uint64_t, uint64_t);
static uint64_t s = 88172645463325252ull;
static uint64_t rnd(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
static uint32_t rf(void) { /* float bits: random, with many small exponents, zeros, infs, near values */
  uint32_t r = (uint32_t)rnd(); switch (rnd() % 8) { case 0: r &= 0x80FFFFFFu; break; case 1: r = (r & 0x807FFFFF) | 0x7F800000u * (rnd() % 2); break; case 2: r &= 0x8000000Fu; break; default: break; } return r; }
static uint64_t rd(void) { uint64_t r = rnd(); switch (rnd() % 8) { case 0: r &= 0x800FFFFFFFFFFFFFull; break; case 1: r = (r & 0x800FFFFFFFFFFFFFull) | 0x7FF0000000000000ull * (rnd() % 2); break; case 2: r &= 0x800000000000000Full; break; case 3: r = (r & 0x80FFFFFFFFFFFFFFull) | 0x3F00000000000000ull; break; default: break; } return r; }
static int same32(float a, float b) { uint32_t x, y; memcpy(&x, &a, 4); memcpy(&y, &b, 4); return x == y || (isnan(a) && isnan(b)); }
static int same64(double a, double b) { uint64_t x, y; memcpy(&x, &a, 8); memcpy(&y, &b, 8); return x == y || (isnan(a) && isnan(b)); }
int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000, bad = 0;
  for (long i = 0; i < n; ++i) {
    uint32_t ua = rf(), ub = rf(); float a, b; memcpy(&a, &ua, 4); memcpy(&b, &ub, 4);
    if (i % 3 == 0) { ub = ua + (uint32_t)(rnd() % 64) - 32; memcpy(&b, &ub, 4); } /* close values: cancellation */
    if (!same32(rt_addsf3(a, b), a + b)) { if (bad++ < 10) printf("add %08x %08x\n", ua, ub); }
    if (!same32(rt_subsf3(a, b), a - b)) { if (bad++ < 10) printf("sub %08x %08x\n", ua, ub); }
    if (!same32(rt_mulsf3(a, b), a * b)) { if (bad++ < 10) printf("mul %08x %08x\n", ua, ub); }
    if (!same64(rt_extendsfdf2(a), (double)a)) { if (bad++ < 10) printf("ext %08x\n", ua); }
    uint64_t da = rd(), db = rd(); double x, y; memcpy(&x, &da, 8); memcpy(&y, &db, 8);
    if (i % 3 == 0) { db = da + (rnd() % 64) - 32; memcpy(&y, &db, 8); }
    if (!same64(rt_adddf3(x, y), x + y)) { if (bad++ < 10) printf("dadd %016llx %016llx\n", (unsigned long long)da, (unsigned long long)db); }
    if (!same64(rt_subdf3(x, y), x - y)) { if (bad++ < 10) printf("dsub %016llx %016llx\n", (unsigned long long)da, (unsigned long long)db); }
    if (!same64(rt_muldf3(x, y), x * y)) { if (bad++ < 10) printf("dmul %016llx %016llx\n", (unsigned long long)da, (unsigned long long)db); }
    if (!same64(rt_divdf3(x, y), x / y)) { if (bad++ < 10) printf("ddiv %016llx %016llx\n", (unsigned long long)da, (unsigned long long)db); }
    if (!same32(rt_truncdfsf2(x), (float)x)) { if (bad++ < 10) printf("trunc %016llx\n", (unsigned long long)da); }
    int32_t si = (int32_t)rnd(); if (i % 2) si >>= rnd() % 31;
    if (!same32(rt_floatsisf(si), (float)si)) { if (bad++ < 10) printf("floatsisf %d\n", si); }
    if (!same64(rt_floatsidf(si), (double)si)) { if (bad++ < 10) printf("floatsidf %d\n", si); }
    uint32_t ui = (uint32_t)rnd() >> (rnd() % 32);
    if (!same64(rt_floatunsidf(ui), (double)ui)) { if (bad++ < 10) printf("floatunsidf %u\n", ui); }
    double fx = fabs(x); if (fx < 4294967295.0 && !isnan(fx) && rt_fixunsdfsi(fx) != (uint32_t)fx) { if (bad++ < 10) printf("fixunsdfsi %016llx\n", (unsigned long long)da); }
    uint32_t nn = (uint32_t)rnd(), dd = (uint32_t)rnd() >> (rnd() % 32); if (dd == 0) dd = 1;
    if (rt_udivsi3(nn, dd) != nn / dd || rt_umodsi3(nn, dd) != nn % dd) { if (bad++ < 10) printf("udiv %u %u\n", nn, dd); }
    int32_t sn = (int32_t)nn, sd = (int32_t)dd * ((rnd() % 2) ? -1 : 1); if (sd == 0) sd = 3;
    if (!(sn == INT32_MIN && sd == -1) && rt_divsi3(sn, sd) != sn / sd) { if (bad++ < 10) printf("divsi %d %d\n", sn, sd); }
    uint64_t n64 = rnd(), d64 = rnd() >> (rnd() % 64); if (d64 == 0) d64 = 7;
    if (rt_udivdi3(n64, d64) != n64 / d64 || rt_umoddi3(n64, d64) != n64 % d64) { if (bad++ < 10) printf("udivdi\n"); }
    if (rt_muldi3(n64, d64) != n64 * d64) { if (bad++ < 10) printf("muldi\n"); }
  }
  printf("%ld cases, %ld mismatches\n", n, bad);
  return bad != 0;
}
