/* xtensa_rt.c - the libgcc routines that Debian's gcc-xtensa-lx106 leaves out
   (on the ESP8266 they are in the mask ROM), so the runner links for QEMU's
   lx106: IEEE-754 binary32 / binary64 add, subtract, multiply, divide and
   conversions, rounding to nearest even, and 32/64-bit integer division.
   Written for this test only, in the classic SoftFloat layout (a significand
   with round bits, one round-and-pack per format). Only 32-bit operations
   are used (and the 64-bit shifts, __mulsi3 and __clzsi2 that libgcc has),
   so nothing here calls itself. NaN results are the default quiet NaN.

   Built with -DRT_HOST_TEST the functions are named rt_* instead, for the
   host test that compares them with the host's hardware arithmetic
   (test/python/test_qemu.py::test_xtensa_runtime_is_ieee). */
#include <stdint.h>
#include <string.h>

#if defined(RT_HOST_TEST)
#define RT(name) rt_##name
#else
#define RT(name) __##name
#endif

typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t i32;

static u32 f2u(float f) {
  u32 u;
  memcpy(&u, &f, 4);
  return u;
}
static float u2f(u32 u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static u64 d2u(double d) {
  u64 u;
  memcpy(&u, &d, 8);
  return u;
}
static double u2d(u64 u) {
  double d;
  memcpy(&d, &u, 8);
  return d;
}

static int clz32(u32 a) { return a ? __builtin_clz(a) : 32; }
static int clz64(u64 a) {
  const u32 hi = (u32)(a >> 32);
  return hi ? clz32(hi) : 32 + clz32((u32)a);
}
static u32 jam32(u32 a, int c) {
  if (c <= 0) return a;
  if (c < 32) return (a >> c) | ((a << (32 - c)) != 0);
  return a != 0;
}
static u64 jam64(u64 a, int c) {
  if (c <= 0) return a;
  if (c < 64) return (a >> c) | ((a << (64 - c)) != 0);
  return a != 0;
}
static u64 mul32(u32 a, u32 b) { /* 32 x 32 -> 64 from 16-bit halves */
  const u32 a0 = a & 0xFFFF, a1 = a >> 16, b0 = b & 0xFFFF, b1 = b >> 16;
  const u32 p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const u64 mid = (u64)p01 + p10;
  return ((u64)p11 << 32) + (mid << 16) + p00;
}
static void mul64(u64 a, u64 b, u64* hi, u64* lo) { /* 64 x 64 -> 128 */
  const u32 a0 = (u32)a, a1 = (u32)(a >> 32), b0 = (u32)b, b1 = (u32)(b >> 32);
  const u64 p00 = mul32(a0, b0), p01 = mul32(a0, b1), p10 = mul32(a1, b0), p11 = mul32(a1, b1);
  const u64 mid = (p00 >> 32) + (u32)p01 + (u32)p10;
  *lo = (mid << 32) | (u32)p00;
  *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

#define F_NAN 0x7FC00000u
#define D_NAN 0x7FF8000000000000ull

/* value = sig * 2^(exp - 156), sig's leading bit at 30 (7 round bits) */
static u32 pack32(u32 sign, i32 exp, u32 sig) {
  u32 rb = sig & 0x7F;
  if (exp >= 0xFD || exp < 0) {
    if (exp > 0xFD || (exp == 0xFD && (i32)(sig + 0x40) < 0)) return (sign << 31) | 0x7F800000u;
    if (exp < 0) {
      sig = jam32(sig, -exp);
      exp = 0;
      rb = sig & 0x7F;
    }
  }
  sig = (sig + 0x40) >> 7;
  if (rb == 0x40) sig &= ~1u;
  if (sig == 0) exp = 0;
  return (sign << 31) + ((u32)exp << 23) + sig;
}

/* value = sig * 2^(exp - 1084), sig's leading bit at 62 (10 round bits) */
static u64 pack64(u32 sign, i32 exp, u64 sig) {
  u32 rb = (u32)sig & 0x3FF;
  if (exp >= 0x7FD || exp < 0) {
    if (exp > 0x7FD || (exp == 0x7FD && (int64_t)(sig + 0x200) < 0)) return ((u64)sign << 63) | 0x7FF0000000000000ull;
    if (exp < 0) {
      sig = jam64(sig, -exp);
      exp = 0;
      rb = (u32)sig & 0x3FF;
    }
  }
  sig = (sig + 0x200) >> 10;
  if (rb == 0x200) sig &= ~(u64)1;
  if (sig == 0) exp = 0;
  return ((u64)sign << 63) + ((u64)(u32)exp << 52) + sig;
}

static int is_nan32(u32 a) { return (a & 0x7FFFFFFFu) > 0x7F800000u; }
static int is_nan64(u64 a) { return (a & 0x7FFFFFFFFFFFFFFFull) > 0x7FF0000000000000ull; }

static u32 add32(u32 a, u32 b) {
  u32 sa = a >> 31, sb = b >> 31;
  i32 ea = (a >> 23) & 0xFF, eb = (b >> 23) & 0xFF;
  if (is_nan32(a) || is_nan32(b)) return F_NAN;
  if (ea == 0xFF || eb == 0xFF) {
    if (ea == 0xFF && eb == 0xFF && sa != sb) return F_NAN;
    return ea == 0xFF ? a : b;
  }
  u32 ma = (a & 0x7FFFFF) << 6, mb = (b & 0x7FFFFF) << 6;
  if (ea) ma |= 0x20000000u; else ea = 1;
  if (eb) mb |= 0x20000000u; else eb = 1;
  if (ea < eb || (ea == eb && ma < mb)) {
    u32 t = ma; ma = mb; mb = t;
    i32 te = ea; ea = eb; eb = te;
    t = sa; sa = sb; sb = t;
  }
  mb = jam32(mb, ea - eb);
  const u32 m = sa == sb ? ma + mb : ma - mb;
  if (m == 0) return sa == sb ? sa << 31 : 0;
  const int s = clz32(m) - 1; /* leading bit to 30 (m < 2^31) */
  return pack32(sa, ea - s, m << s);
}

static u32 mul32f(u32 a, u32 b) {
  const u32 sign = (a ^ b) >> 31;
  i32 ea = (a >> 23) & 0xFF, eb = (b >> 23) & 0xFF;
  u32 ma = a & 0x7FFFFF, mb = b & 0x7FFFFF;
  if (is_nan32(a) || is_nan32(b)) return F_NAN;
  if (ea == 0xFF || eb == 0xFF) {
    if ((ea == 0 && ma == 0) || (eb == 0 && mb == 0)) return F_NAN; /* inf * 0 */
    return (sign << 31) | 0x7F800000u;
  }
  if ((ea == 0 && ma == 0) || (eb == 0 && mb == 0)) return sign << 31;
  if (ea == 0) { const int s = clz32(ma) - 8; ma <<= s; ea = 1 - s; }
  if (eb == 0) { const int s = clz32(mb) - 8; mb <<= s; eb = 1 - s; }
  i32 e = ea + eb - 0x7F;
  const u64 p = mul32((ma | 0x800000u) << 7, (mb | 0x800000u) << 8);
  u32 m = (u32)(p >> 32) | ((u32)p != 0);
  if ((i32)(m << 1) >= 0) { m <<= 1; --e; }
  return pack32(sign, e, m);
}

static u64 add64(u64 a, u64 b) {
  u32 sa = (u32)(a >> 63), sb = (u32)(b >> 63);
  i32 ea = (i32)((a >> 52) & 0x7FF), eb = (i32)((b >> 52) & 0x7FF);
  if (is_nan64(a) || is_nan64(b)) return D_NAN;
  if (ea == 0x7FF || eb == 0x7FF) {
    if (ea == 0x7FF && eb == 0x7FF && sa != sb) return D_NAN;
    return ea == 0x7FF ? a : b;
  }
  u64 ma = (a & 0xFFFFFFFFFFFFFull) << 9, mb = (b & 0xFFFFFFFFFFFFFull) << 9;
  if (ea) ma |= 0x2000000000000000ull; else ea = 1;
  if (eb) mb |= 0x2000000000000000ull; else eb = 1;
  if (ea < eb || (ea == eb && ma < mb)) {
    u64 t = ma; ma = mb; mb = t;
    i32 te = ea; ea = eb; eb = te;
    u32 ts = sa; sa = sb; sb = ts;
  }
  mb = jam64(mb, ea - eb);
  const u64 m = sa == sb ? ma + mb : ma - mb;
  if (m == 0) return sa == sb ? (u64)sa << 63 : 0;
  const int s = clz64(m) - 1;
  return pack64(sa, ea - s, m << s);
}

static u64 mul64f(u64 a, u64 b) {
  const u32 sign = (u32)((a ^ b) >> 63);
  i32 ea = (i32)((a >> 52) & 0x7FF), eb = (i32)((b >> 52) & 0x7FF);
  u64 ma = a & 0xFFFFFFFFFFFFFull, mb = b & 0xFFFFFFFFFFFFFull;
  if (is_nan64(a) || is_nan64(b)) return D_NAN;
  if (ea == 0x7FF || eb == 0x7FF) {
    if ((ea == 0 && ma == 0) || (eb == 0 && mb == 0)) return D_NAN;
    return ((u64)sign << 63) | 0x7FF0000000000000ull;
  }
  if ((ea == 0 && ma == 0) || (eb == 0 && mb == 0)) return (u64)sign << 63;
  if (ea == 0) { const int s = clz64(ma) - 11; ma <<= s; ea = 1 - s; }
  if (eb == 0) { const int s = clz64(mb) - 11; mb <<= s; eb = 1 - s; }
  i32 e = ea + eb - 0x3FF;
  u64 hi, lo;
  mul64((ma | 0x10000000000000ull) << 10, (mb | 0x10000000000000ull) << 11, &hi, &lo);
  u64 m = hi | (lo != 0);
  if ((int64_t)(m << 1) >= 0) { m <<= 1; --e; }
  return pack64(sign, e, m);
}

static u64 div64f(u64 a, u64 b) {
  const u32 sign = (u32)((a ^ b) >> 63);
  i32 ea = (i32)((a >> 52) & 0x7FF), eb = (i32)((b >> 52) & 0x7FF);
  u64 ma = a & 0xFFFFFFFFFFFFFull, mb = b & 0xFFFFFFFFFFFFFull;
  const int za = ea == 0 && ma == 0, zb = eb == 0 && mb == 0;
  if (is_nan64(a) || is_nan64(b)) return D_NAN;
  if (ea == 0x7FF) return eb == 0x7FF ? D_NAN : ((u64)sign << 63) | 0x7FF0000000000000ull;
  if (eb == 0x7FF) return (u64)sign << 63;
  if (zb) return za ? D_NAN : ((u64)sign << 63) | 0x7FF0000000000000ull;
  if (za) return (u64)sign << 63;
  if (ea == 0) { const int s = clz64(ma) - 11; ma <<= s; ea = 1 - s; }
  if (eb == 0) { const int s = clz64(mb) - 11; mb <<= s; eb = 1 - s; }
  ma |= 0x10000000000000ull;
  mb |= 0x10000000000000ull;
  if (ma < mb) { ma <<= 1; --ea; }
  u64 q = 0, r = ma;
  for (int i = 0; i < 63; ++i) { /* restoring division: 63 quotient bits, the first one set */
    q <<= 1;
    if (r >= mb) { r -= mb; q |= 1; }
    r <<= 1;
  }
  return pack64(sign, ea - eb + 0x3FE, q | (r != 0));
}

float RT(addsf3)(float a, float b) { return u2f(add32(f2u(a), f2u(b))); }
float RT(subsf3)(float a, float b) { return u2f(add32(f2u(a), f2u(b) ^ 0x80000000u)); }
float RT(mulsf3)(float a, float b) { return u2f(mul32f(f2u(a), f2u(b))); }
double RT(adddf3)(double a, double b) { return u2d(add64(d2u(a), d2u(b))); }
double RT(subdf3)(double a, double b) { return u2d(add64(d2u(a), d2u(b) ^ 0x8000000000000000ull)); }
double RT(muldf3)(double a, double b) { return u2d(mul64f(d2u(a), d2u(b))); }
double RT(divdf3)(double a, double b) { return u2d(div64f(d2u(a), d2u(b))); }

float RT(floatsisf)(i32 v) {
  if (v == 0) return 0.0f;
  const u32 sign = v < 0;
  const u32 m = sign ? 0u - (u32)v : (u32)v;
  const int s = clz32(m) - 1; /* -1 only for 2^31 */
  return u2f(pack32(sign, 156 - s, s >= 0 ? m << s : jam32(m, -s)));
}

double RT(floatunsidf)(u32 v) {
  if (v == 0) return 0.0;
  const int s = clz32(v);
  return u2d(((u64)(1023 + 31 - s) << 52) | (((u64)v << (21 + s)) & 0xFFFFFFFFFFFFFull));
}

double RT(floatsidf)(i32 v) {
  const u32 m = v < 0 ? 0u - (u32)v : (u32)v;
  const double d = RT(floatunsidf)(m); /* exact */
  return v < 0 ? u2d(d2u(d) | 0x8000000000000000ull) : d;
}

double RT(extendsfdf2)(float f) {
  const u32 a = f2u(f);
  const u64 sign = (u64)(a >> 31) << 63;
  i32 e = (a >> 23) & 0xFF;
  u32 m = a & 0x7FFFFF;
  if (e == 0xFF) return u2d(m ? D_NAN : sign | 0x7FF0000000000000ull);
  if (e == 0) {
    if (m == 0) return u2d(sign);
    const int s = clz32(m) - 8;
    m = (m << s) & 0x7FFFFF;
    e = 1 - s;
  }
  return u2d(sign | ((u64)(u32)(e + 1023 - 127) << 52) | ((u64)m << 29));
}

float RT(truncdfsf2)(double d) {
  const u64 a = d2u(d);
  const u32 sign = (u32)(a >> 63);
  const i32 e = (i32)((a >> 52) & 0x7FF);
  const u64 m = a & 0xFFFFFFFFFFFFFull;
  if (e == 0x7FF) return u2f(m ? F_NAN : (sign << 31) | 0x7F800000u);
  u32 m32 = (u32)jam64(m, 22);
  if (e == 0 && m32 == 0) return u2f(sign << 31);
  if (e) m32 |= 0x40000000u;
  return u2f(pack32(sign, e - 0x381, m32));
}

u32 RT(fixunsdfsi)(double d) { /* toward zero; negative -> 0, too large -> 0xFFFFFFFF */
  const u64 a = d2u(d);
  const i32 e = (i32)((a >> 52) & 0x7FF) - 1023;
  if ((a >> 63) || e < 0) return 0;
  if (e >= 32) return 0xFFFFFFFFu;
  return (u32)(((a & 0xFFFFFFFFFFFFFull) | 0x10000000000000ull) >> (52 - e));
}

/* ---- integers ---- */
u32 RT(udivsi3)(u32 n, u32 d) {
  u32 q = 0, r = 0;
  for (int i = 31; i >= 0; --i) {
    r = (r << 1) | ((n >> i) & 1);
    if (r >= d) { r -= d; q |= 1u << i; }
  }
  return q;
}
u32 RT(umodsi3)(u32 n, u32 d) {
  u32 r = 0;
  for (int i = 31; i >= 0; --i) {
    r = (r << 1) | ((n >> i) & 1);
    if (r >= d) r -= d;
  }
  return r;
}
i32 RT(divsi3)(i32 n, i32 d) {
  const u32 un = n < 0 ? 0u - (u32)n : (u32)n, ud = d < 0 ? 0u - (u32)d : (u32)d;
  const u32 q = RT(udivsi3)(un, ud);
  return (i32)((n < 0) != (d < 0) ? 0u - q : q);
}
static u64 udivmod64(u64 n, u64 d, u64* rem) {
  u64 q = 0, r = 0;
  for (int i = 63; i >= 0; --i) {
    r = (r << 1) | ((n >> i) & 1);
    if (r >= d) { r -= d; q |= (u64)1 << i; }
  }
  *rem = r;
  return q;
}
u64 RT(udivdi3)(u64 n, u64 d) {
  u64 r;
  return udivmod64(n, d, &r);
}
u64 RT(umoddi3)(u64 n, u64 d) {
  u64 r;
  udivmod64(n, d, &r);
  return r;
}
u64 RT(muldi3)(u64 a, u64 b) {
  u64 hi, lo;
  mul64(a, b, &hi, &lo);
  return lo;
}
