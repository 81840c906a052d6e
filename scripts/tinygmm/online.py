"""Online (stepwise) EM for a Gaussian mixture: the float32 reference of lib/tinygmm/src/tinygmm_online.h.

Every operation of the C++ OnlineGMM is performed here in float32, in the same order, with the same exp and
log tables, so that on the same input stream the device's parameters equal these bit for bit wherever float32
rounds to nearest without fused multiply-adds. docs/online.md describes the algorithm (Cappe & Moulines 2009
stepwise EM with 16-sample batches, scikit-learn's reg_covar, an LDL^T pivot floor, a weight floor, k-means++
seeding for the scratch start, a P^2 quantile for the anomaly threshold).

Standalone: imports numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

F = np.float32

OK, WARMING, BAD_INPUT, FAR, NOT_STARTED, BAD_MODEL = 0, 1, -1, -2, -3, -4
SCORE_CUT = F(17.0)  # components within it count in a learned sample's score
CUT = F(5.0)  # and within it in the update (responsibilities below e^-CUT of the best are left out)
GAMMA_HOLD = 16  # samples per step size and per refresh of the scoring parameters
HALF_LOG_2PI = F(0.918938533)
LLOYD = 5
RESTARTS = 4
_INV_2_24 = F(5.9604644775390625e-8)


@dataclass(frozen=True)
class OnlineConfig:
    """The C++ OnlineConfig (online_defaults())."""

    alpha: float = 0.7
    t0: float = 50.0
    gamma_floor: float = 0.0
    reg_covar: float = 1e-6
    min_weight: float = 1e-3
    x_limit: float = 1e15
    quantile: float = 0.01
    max_tail: float = 0.0
    seed: int = 1


def _finite(v: np.float32) -> bool:
    return bool(np.isfinite(v))


def _normal_range(v: np.float32) -> bool:
    e = (int(np.array(v, dtype=F).view(np.uint32)) >> 23) & 0xFF
    return 27 < e < 227


def _bits(v: np.float32) -> int:
    return int(np.array(v, dtype=F).view(np.uint32))


def _from_bits(u: int) -> np.float32:
    return np.array(u & 0xFFFFFFFF, dtype=np.uint32).view(F)[()]


# log_table's tables: INV_i = 1 / (1 + (i + 1/2) / 64) in float32, LOG_i = -log INV_i (float32 of the exact value)
_LOG_INV = [F(1.0 / (1.0 + (i + 0.5) / 64.0)) for i in range(64)]
_LOG_C = [F(-np.log(np.float64(v))) for v in _LOG_INV]


def log_table(v: np.float32) -> np.float32:
    """The C++ online_detail::log_table: log of a positive normal float32 by a 64-entry table and a series."""
    u = _bits(v)
    be = u >> 23
    if be == 0 or be >= 0xFF:
        return F(np.log(F(v)))  # (the C++ falls back to logf: not reached by a learner's values)
    i = (u >> 17) & 63
    m = _from_bits((u & 0x007FFFFF) | 0x3F800000)
    t = F(F(m * _LOG_INV[i]) - F(1))
    poly = F(t * F(F(1) - F(t * F(F(0.5) - F(t * F(0.333333343))))))
    return F(F(F(be - 127) * F(0.693147182)) + F(_LOG_C[i] + poly))


_POW2 = [F(2.0 ** (j / 64.0)) for j in range(64)]  # exp_table's table: 2^(j/64) in float32


def exp_table(x: np.float32) -> np.float32:
    """The C++ online_detail::exp_table: exp(x) for x <= 0 by 2^(j/64) from a table and two series terms."""
    x = F(x)
    if not (x > F(-86.0)):
        return F(0)
    if not (x < 0):
        return F(1) if x == 0 else F(np.exp(x))
    n = int(np.trunc(F(F(x * F(92.3324814)) - F(0.5))))
    nf = F(n)
    r = F(F(x - F(nf * F(0.010833740234375))) - F(nf * F(-3.31553815e-06)))
    p = F(F(1) + F(r * F(F(1) + F(F(0.5) * r))))
    j = n & 63
    m = (n - j) // 64
    return _from_bits((_bits(F(p * _POW2[j])) + (m << 23)) & 0xFFFFFFFF)


def log_near1(v: np.float32) -> np.float32:
    """The C++ online_detail::log_near1: log1p's series when |v - 1| <= 1/32 (two terms to 2^-11), else log_table."""
    t = F(F(v) - F(1))
    a = abs(t)
    if a == 0:
        return F(0)
    if a <= F(2.0**-11):
        return F(t * F(F(1) - F(F(0.5) * t)))
    if a <= F(0.03125):
        inner = F(F(0.333333343) - F(F(0.25) * t))
        return F(t * F(F(1) - F(t * F(F(0.5) - F(t * inner)))))
    return log_table(F(v))


def sanitized(c: OnlineConfig, k: int) -> OnlineConfig:
    """The C++ sanitized(): out-of-range options replaced by safe values."""
    o = c
    if not (0.0 < F(o.alpha) <= 1.0):
        o = replace(o, alpha=0.7)
    if not (F(o.t0) >= 1.0) or not np.isfinite(F(o.t0)):
        o = replace(o, t0=1.0)
    if not (0.0 <= F(o.gamma_floor) < 1.0):
        o = replace(o, gamma_floor=0.0)
    if not (F(o.reg_covar) >= 0.0) or not np.isfinite(F(o.reg_covar)):
        o = replace(o, reg_covar=1e-6)
    if not (F(o.min_weight) > 0.0 and F(o.min_weight) * F(k) < 1.0):
        o = replace(o, min_weight=float(F(1e-3) / F(k)))
    if not (F(o.x_limit) > 0.0) or not np.isfinite(F(o.x_limit)):
        o = replace(o, x_limit=1e15)
    if not (0.0 < F(o.quantile) < 1.0):
        o = replace(o, quantile=0.01)
    if not (F(o.max_tail) >= 0.0) or not np.isfinite(F(o.max_tail)):
        o = replace(o, max_tail=0.0)
    return o


class OnlineGMM:
    """OnlineGMM<K, D, COV, WARM> in float32 (covariance_type 'full' or 'diag').

    Every operation of a learn step is a float32 addition, multiplication or division (exp and log are the
    library's own tables, exp_table / log_table / log_near1), so the C++ gives the same bits on every target
    that rounds float32 to nearest without fused multiply-adds.
    """

    def __init__(self, n_components: int, n_features: int, covariance_type: str = "full", warm: int | None = None):
        if covariance_type not in ("full", "diag"):
            raise ValueError("covariance_type must be 'full' or 'diag'")
        self.K, self.D = n_components, n_features
        self.full = covariance_type == "full"
        self.warm_n = max(4 * n_components if warm is None else warm, 1)
        self.trials = 2 + (n_components > 2) + (n_components > 7) + (n_components > 20)
        self.mode = 0
        self.cfg = OnlineConfig()
        self._reset_state()

    # ---- state -------------------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        K, D = self.K, self.D
        self.t = 0
        self.n_warm = 0
        self.rng = 0
        self.frozen = False
        self.p2_count = 0
        self.splits = 0
        self.at_floor = False
        self.p2_n = [0] * 5
        self.p2_q = [F(0)] * 5
        self.p2_want = [0] * 3  # desired positions of markers 1..3: integer part
        self.p2_frac = [0] * 3  # and fraction (units of 2^-32)
        self.p2_step = [0] * 3  # increments per sample (units of 2^-32)
        self.thr = F(-np.inf)
        self.total = F(0)
        self.last_gamma = F(0)
        self.etotal = F(0)  # the total when the scoring parameters were made
        self.s0 = np.zeros(K, F)
        self.c = np.zeros(K, F)
        self.mean = np.zeros((K, D), F)
        self.cov = np.zeros((K, D, D), F)  # lower triangle used (full) or the diagonal (diag)
        self.ldl = np.zeros((K, D, D), F)  # LDL^T: L below the diagonal, 1 / D_j on it
        self.emean = np.zeros((K, D), F)  # the means ldl and c were made with (the scoring parameters)
        self.warm = np.zeros((self.warm_n, D), F)

    def begin(self, cfg: OnlineConfig, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> int:
        """Adapt a model given in scikit-learn's layout (covariances with reg_covar)."""
        K, D = self.K, self.D
        cfg = sanitized(cfg, K)
        w = np.asarray(weights, F)
        if not np.all(np.isfinite(w)) or not np.all(w > 0):
            return BAD_MODEL
        mu = np.asarray(means, F).reshape(K, D)
        cv = np.asarray(covariances, F)
        if not np.all(np.isfinite(mu)) or not np.all(np.isfinite(cv)):
            return BAD_MODEL
        self.cfg = cfg
        self._reset_state()
        wsum = F(0)
        for k in range(K):
            wsum = F(wsum + w[k])
        mw, reg = F(cfg.min_weight), F(cfg.reg_covar)
        for k in range(K):
            s0 = F(w[k] / wsum)
            self.s0[k] = mw if s0 < mw else s0
            self.mean[k] = mu[k]
            for i in range(D):
                if self.full:
                    for j in range(i + 1):
                        self.cov[k, i, j] = cv.reshape(K, D, D)[k, i, j]
                else:
                    self.cov[k, i, i] = cv.reshape(K, D)[k, i]
                self.cov[k, i, i] = F(self.cov[k, i, i] - reg)
        self.total = F(0)
        for k in range(K):
            self.total = F(self.total + self.s0[k])
        self.mode = 2
        self._refresh()
        return OK

    def begin_scratch(self, cfg: OnlineConfig) -> None:
        self.cfg = sanitized(cfg, self.K)
        self._reset_state()
        self.rng = self.cfg.seed & 0xFFFFFFFF or 0x9E3779B9
        self.mode = 1

    # ---- learning ----------------------------------------------------------------------------------------
    def learn(self, x: np.ndarray) -> int:
        """One stepwise-EM step; returns a status code (OK, WARMING, BAD_INPUT, FAR, NOT_STARTED)."""
        if self.mode == 0:
            return NOT_STARTED
        x = np.asarray(x, F)
        lim = F(self.cfg.x_limit)
        for i in range(self.D):
            if not _finite(x[i]) or not (abs(x[i]) <= lim):
                return BAD_INPUT
        if self.mode == 1:
            self.warm[self.n_warm] = x
            self.n_warm += 1
            if self.n_warm < self.warm_n:
                return WARMING
            self._seed()
            return OK
        lp, top, ok = self._log_probs(x, F(1))
        if not ok:
            return FAR
        best = int(np.argmax(lp))
        tail = F(self.c[best] - lp[best])  # |L^-1 (x - mean)|^2 / 2 of the best component
        if F(self.cfg.max_tail) > 0 and not (tail <= F(self.cfg.max_tail)):
            return FAR
        r = np.zeros(self.K, F)
        total_r, kept = F(0), F(0)  # within SCORE_CUT (the score), within CUT (the update)
        for k in range(self.K):
            e = F(lp[k] - top)
            # the best component (and any tie) has e == 0 and exp(0) == 1 exactly: no exp for it
            if e == 0:
                v = F(1)
            elif e >= -SCORE_CUT:
                v = exp_table(e)
            else:
                continue
            total_r = F(total_r + v)
            if e >= -CUT:
                kept = F(kept + v)
                r[k] = v
        if not self.frozen and self.t >= self.warm_n + 8 * self.K:  # (not the transient of a start)
            self._p2_add(self._mixture_score(top, total_r))  # the sample's score
        if kept != 1:  # (one component within CUT: r is already normalised)
            inv = F(F(1) / kept)
            r = (r * inv).astype(F)
        self.t += 1
        gf = F(self.cfg.gamma_floor)
        g = gf
        # gamma = max((t_h + t0)^-alpha, gamma_floor), t_h = t rounded down to a multiple of GAMMA_HOLD (the step
        # is held for GAMMA_HOLD samples); it decreases: once at the floor, it stays there
        if not self.at_floor:
            if self.t % GAMMA_HOLD == 0 or not (self.last_gamma > 0):
                th = self.t - self.t % GAMMA_HOLD
                g = exp_table(F(F(-F(self.cfg.alpha)) * log_table(F(F(th) + F(self.cfg.t0)))))
                if not (g > gf):
                    g = gf
                    self.at_floor = True
            else:
                g = self.last_gamma  # the held step
        self.last_gamma = g
        keep = F(F(1) - g)
        mw = F(self.cfg.min_weight)
        total = F(0)
        for k in range(self.K):
            s0 = F(F(keep * self.s0[k]) + F(g * r[k]))
            if r[k] > 0:
                eta = F(F(g * r[k]) / s0)
                # u = eta d is the mean's step; C <- (1 - eta) C + eta (1 - eta) d d^T = (1 - eta) (C + u d^T)
                a = F(F(1) - eta)
                d = (x - self.mean[k]).astype(F)
                u = (eta * d).astype(F)
                self.mean[k] = (self.mean[k] + u).astype(F)
                for i in range(self.D):
                    for j in range(i + 1) if self.full else (i,):
                        self.cov[k, i, j] = F(a * F(self.cov[k, i, j] + F(u[i] * d[j])))
            self.s0[k] = mw if s0 < mw else s0
            total = F(total + self.s0[k])
        self.total = total
        self._split(x, best, tail)
        if self.t % GAMMA_HOLD == 0:  # the end of a block: the scoring parameters from the statistics
            self._refresh()
        return OK

    def _refresh(self) -> None:
        """The scoring parameters (factors, log constants, means, total) from the statistics (C++ refresh())."""
        for k in range(self.K):
            self._refactor(k)
        self.etotal = self.total

    SPLIT_SCALE = F(0.25)

    def _split(self, x: np.ndarray, j: int, tail: np.float32) -> None:
        """A starved component restarts at x, taking half of the heavy component j outside whose core x lies."""
        mw = F(self.cfg.min_weight)
        k = next((k for k in range(self.K) if self.s0[k] <= mw), -1)
        if k < 0 or not (tail > F(F(0.5) * F(self.D))) or not (F(self.s0[j] * F(self.K)) >= self.total):
            return
        half = F(F(0.5) * self.s0[j])
        self.s0[j] = half
        self.s0[k] = half
        self.mean[k] = x
        self.cov[k] = (self.cov[j] * self.SPLIT_SCALE).astype(F)
        self.splits += 1
        total = F(0)
        for i in range(self.K):
            total = F(total + self.s0[i])
        self.total = total
        self._refresh()

    def learn_many(self, X: np.ndarray) -> list[int]:
        return [self.learn(x) for x in np.asarray(X, F)]

    # ---- evaluation --------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.mode == 2

    def classify(self, x: np.ndarray) -> tuple[int, np.ndarray, float]:
        """(most probable component, proba[K], score_samples) as the C++ classify; (-1, ...) before ready."""
        K = self.K
        if self.mode != 2:
            return -1, np.zeros(K, F), F(-np.inf)
        x = np.asarray(x, F)
        scale = F(1)
        lp, top, ok = self._log_probs(x, scale)
        best = int(np.argmax(lp))
        if not ok:
            for _ in range(20):
                scale = F(scale * F(0.00390625))
                lp, top, ok = self._log_probs(x, scale)
                if ok:
                    break
            best = int(np.argmax(lp)) if ok else 0
            p = np.zeros(K, F)
            p[best] = 1
            return best, p, F(-np.inf)
        p = np.zeros(K, F)
        s = F(0)
        for k in range(K):
            p[k] = exp_table(F(lp[k] - top))
            s = F(s + p[k])
        inv = F(F(1) / s)
        p = (p * inv).astype(F)
        return best, p, self._mixture_score(top, s)

    def predict(self, x: np.ndarray) -> int:
        return self.classify(x)[0]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.classify(x)[1]

    def score_samples(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, F))
        return np.array([self.classify(x)[2] for x in X], F)

    @property
    def threshold(self) -> np.float32:
        if self.frozen or self.p2_count < 5:
            return self.thr
        return self.p2_q[2]

    def freeze_threshold(self, frozen: bool = True) -> None:
        if frozen and not self.frozen:
            self.thr = self.threshold
        if not frozen and self.p2_count < 5:
            self.thr = F(-np.inf)
        self.frozen = frozen

    def is_anomaly(self, x: np.ndarray) -> bool:
        th = self.threshold
        if not th > -np.inf:
            return False
        return not (self.classify(x)[2] >= th)

    def params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights, means, covariances) in scikit-learn's layout, reg_covar included."""
        K, D = self.K, self.D
        w = (self.s0 / self.total).astype(F)
        reg = F(self.cfg.reg_covar)
        if self.full:
            cov = np.zeros((K, D, D), F)
            for k in range(K):
                for i in range(D):
                    for j in range(D):
                        v = self.cov[k, max(i, j), min(i, j)]
                        cov[k, i, j] = F(v + reg) if i == j else v
        else:
            cov = np.array([[F(self.cov[k, i, i] + reg) for i in range(D)] for k in range(K)], F)
        return w, self.mean.copy(), cov

    # ---- internals (same order of operations as the C++) --------------------------------------------------
    def _log_probs(self, x: np.ndarray, scale: np.float32) -> tuple[np.ndarray, np.float32, bool]:
        K, D = self.K, self.D
        lp = np.zeros(K, F)
        best = F(-np.inf)
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(K):
                z = np.zeros(D, F)
                q = F(0)
                for j in range(D):  # z = L^-1 (x - mean), q = sum_j z_j^2 / D_j
                    acc = F(F(x[j] - self.emean[k, j]) * scale)
                    if self.full:
                        for i in range(j):
                            acc = F(acc - F(self.ldl[k, j, i] * z[i]))
                    z[j] = acc
                    q = F(q + F(F(acc * self.ldl[k, j, j]) * acc))
                v = F(self.c[k] - F(F(0.5) * q))
                if not _finite(v):
                    v = F(-np.inf)
                lp[k] = v
                if v > best:
                    best = v
        return lp, best, bool(best > -np.inf)

    def _refactor(self, k: int) -> None:
        D = self.D
        reg = F(self.cfg.reg_covar)
        fl = reg if reg > F(1e-30) else F(1e-30)
        cov, L = self.cov[k], self.ldl[k]
        w = np.zeros((D, D), F)  # w_rj = L_rj D_j
        for j in range(D):
            dj = F(cov[j, j] + reg)
            if self.full:
                for i in range(j):
                    dj = F(dj - F(L[j, i] * w[j, i]))
            if not (dj >= fl):
                dj = fl
            inv = F(F(1) / dj)
            L[j, j] = inv
            if self.full:
                for r in range(j + 1, D):
                    acc = cov[r, j]
                    for i in range(j):
                        acc = F(acc - F(L[r, i] * w[j, i]))
                    w[r, j] = acc
                    L[r, j] = F(acc * inv)
        self._refactor_constant(k)
        self.emean[k] = self.mean[k].copy()

    def _refactor_constant(self, k: int) -> None:
        D = self.D
        L = self.ldl[k]
        p = F(self.s0[k] * self.s0[k])
        for j in range(D):
            p = F(p * L[j, j])
        if _normal_range(p):
            c = F(F(0.5) * log_table(p))
        else:
            c = log_table(self.s0[k])
            for j in range(D):
                c = F(c + F(F(0.5) * log_table(L[j, j])))
        self.c[k] = F(c - F(F(D) * HALF_LOG_2PI))

    def _mixture_score(self, top: np.float32, total_r: np.float32) -> np.float32:
        """log sum_k exp(lp_k) - log total (the C++ mixture_score)."""
        return F(top + F(log_near1(total_r) - log_near1(self.etotal)))

    def _p2_add(self, v: np.float32) -> None:
        q, n = self.p2_q, self.p2_n
        p = F(self.cfg.quantile)
        if self.p2_count < 5:
            i = self.p2_count
            while i > 0 and q[i - 1] > v:
                q[i] = q[i - 1]
                i -= 1
            q[i] = v
            self.p2_count += 1
            if self.p2_count == 5:
                self.p2_n = list(range(5))
                dn = [F(F(0.5) * p), p, F(F(0.5) * F(F(1) + p))]
                self.p2_step = [int(F(x * F(4294967296.0))) for x in dn]
                self.p2_want = [st >> 30 for st in self.p2_step]
                self.p2_frac = [(st << 2) & 0xFFFFFFFF for st in self.p2_step]
            return
        self.p2_count += 1
        if v < q[0]:
            q[0] = v
            k = 0
        elif v >= q[4]:
            q[4] = v
            k = 3
        else:
            k = 0
            while k < 3 and v >= q[k + 1]:
                k += 1
        for i in range(k + 1, 5):
            n[i] += 1
        want, frac, step = self.p2_want, self.p2_frac, self.p2_step
        for j in range(3):
            frac[j] += step[j]
            if frac[j] > 0xFFFFFFFF:
                frac[j] &= 0xFFFFFFFF
                want[j] = (want[j] + 1) & 0xFFFFFFFF
        for i in range(1, 4):
            w, f = want[i - 1], frac[i - 1]
            if w >= n[i] + 1 and n[i + 1] - n[i] > 1:
                sg = 1
            elif (w + 1 < n[i] or (w + 1 == n[i] and f == 0)) and n[i - 1] - n[i] < -1:
                sg = -1
            else:
                continue
            fs = F(sg)
            a, b, c = F(n[i] - n[i - 1]), F(n[i + 1] - n[i]), F(n[i + 1] - n[i - 1])
            t1 = F(F(F(a + fs) * F(q[i + 1] - q[i])) / b)
            t2 = F(F(F(b - fs) * F(q[i] - q[i - 1])) / a)
            qp = F(q[i] + F(F(fs / c) * F(t1 + t2)))
            if q[i - 1] < qp < q[i + 1]:
                q[i] = qp
            else:
                o = i + sg
                q[i] = F(q[i] + F(F(fs * F(q[o] - q[i])) / F(n[o] - n[i])))
            n[i] += sg

    def _next(self) -> int:
        s = self.rng
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.rng = s
        return s

    def _dist2(self, a: np.ndarray, b: np.ndarray) -> np.float32:
        s = F(0)
        for i in range(self.D):
            d = F(a[i] - b[i])
            s = F(s + F(d * d))
        return s

    def _kmeans(self) -> tuple[np.float32, np.ndarray]:
        K, D, N = self.K, self.D, self.warm_n
        X = self.warm
        centre = np.zeros((K, D), F)
        first = self._next() % N
        centre[0] = X[first]
        dmin = [self._dist2(X[n], centre[0]) for n in range(N)]
        for c in range(1, K):
            tot = F(0)
            for n in range(N):
                tot = F(tot + dmin[n])
            best, best_pot = -1, F(0)
            for _ in range(self.trials):
                u = F(F(F(self._next() >> 8) * _INV_2_24) * tot)
                pick, acc = N - 1, F(0)
                for n in range(N):
                    acc = F(acc + dmin[n])
                    if acc > u:
                        pick = n
                        break
                pot = F(0)
                for n in range(N):
                    d2 = self._dist2(X[n], X[pick])
                    pot = F(pot + (d2 if d2 < dmin[n] else dmin[n]))
                if best < 0 or pot < best_pot:
                    best, best_pot = pick, pot
            centre[c] = X[best]
            for n in range(N):
                d2 = self._dist2(X[n], centre[c])
                if d2 < dmin[n]:
                    dmin[n] = d2
        inertia = F(0)
        for it in range(LLOYD + 1):
            sums = np.zeros((K, D), F)
            cnt = np.zeros(K, F)
            inertia = F(0)
            for n in range(N):
                b, bd = 0, self._dist2(X[n], centre[0])
                for c in range(1, K):
                    d2 = self._dist2(X[n], centre[c])
                    if d2 < bd:
                        b, bd = c, d2
                inertia = F(inertia + bd)
                cnt[b] = F(cnt[b] + F(1))
                for i in range(D):
                    sums[b, i] = F(sums[b, i] + X[n, i])
            if it == LLOYD:
                break
            for c in range(K):
                if cnt[c] > 0:
                    for i in range(D):
                        centre[c, i] = F(sums[c, i] / cnt[c])
        return inertia, centre

    def _nearest(self, x: np.ndarray, centre: np.ndarray) -> int:
        b, bd = 0, self._dist2(x, centre[0])
        for c in range(1, self.K):
            d2 = self._dist2(x, centre[c])
            if d2 < bd:
                b, bd = c, d2
        return b

    def _seed(self) -> None:
        K, D, N = self.K, self.D, self.warm_n
        X = self.warm
        best, centre = self._kmeans()
        for _ in range(1, RESTARTS):
            inertia, c2 = self._kmeans()
            if inertia < best:
                best, centre = inertia, c2
        lab = [self._nearest(X[n], centre) for n in range(N)]
        gvar = np.zeros(D, F)
        for i in range(D):
            s = F(0)
            for n in range(N):
                s = F(s + X[n, i])
            gm = F(s / F(N))
            v = F(0)
            for n in range(N):
                d = F(X[n, i] - gm)
                v = F(v + F(d * d))
            gvar[i] = F(v / F(N))
        total = F(0)
        mw = F(self.cfg.min_weight)
        for c in range(K):
            cov = np.zeros((D, D), F)
            cnt_c = F(0)
            self.mean[c] = centre[c]
            for n in range(N):
                if lab[n] != c:
                    continue
                cnt_c = F(cnt_c + F(1))
                for i in range(D):
                    di = F(X[n, i] - centre[c, i])
                    for j in range(i + 1) if self.full else (i,):
                        cov[i, j] = F(cov[i, j] + F(di * F(X[n, j] - centre[c, j])))
            if cnt_c >= F(D + 1):
                inv = F(F(1) / cnt_c)
                cov = (cov * inv).astype(F)
            else:
                cov = np.diag(gvar).astype(F)
            self.cov[c] = cov
            s0 = F(cnt_c / F(N))
            self.s0[c] = mw if s0 < mw else s0
            total = F(total + self.s0[c])
        self.total = total
        self.t = N
        self.mode = 2
        self._refresh()
