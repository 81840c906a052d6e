/* naive_gmm.h - the textbook GMM classifier, as most tutorials publish it.
 *
 * Written for the tinygmm benchmark only (scripts/bench). Per call and per
 * component: invert the covariance matrix and take its determinant (closed
 * form for D = 2, Gauss-Jordan elimination otherwise), evaluate the density
 *   w_k * exp(-(x - mu_k)' inv(S_k) (x - mu_k) / 2) / sqrt((2 pi)^D det S_k)
 * in float, and return the argmax. Model in RAM (plain const arrays), raw
 * feature space. Far from the data every density underflows to 0 and the
 * answer degenerates to component 0.
 *
 * The includer defines NAIVE_D, NAIVE_K and the arrays naive_weights[K],
 * naive_means[K*D], naive_covs[K*D*D] before including this file.
 */
#ifndef NAIVE_GMM_H
#define NAIVE_GMM_H

#include <math.h>

static int naive_predict(const float *x)
{
    int best = 0;
    float best_density = -1.0f;
    for (int k = 0; k < NAIVE_K; k++) {
        float inv[NAIVE_D][NAIVE_D];
        const float *s = naive_covs + k * NAIVE_D * NAIVE_D;
#if NAIVE_D == 2
        /* closed form, as tutorials write it for 2-D data */
        const float det = s[0] * s[3] - s[1] * s[2];
        inv[0][0] = s[3] / det;
        inv[0][1] = -s[1] / det;
        inv[1][0] = -s[2] / det;
        inv[1][1] = s[0] / det;
#else
        float a[NAIVE_D][NAIVE_D];
        for (int i = 0; i < NAIVE_D; i++) {
            for (int j = 0; j < NAIVE_D; j++) {
                a[i][j] = s[i * NAIVE_D + j];
                inv[i][j] = (i == j) ? 1.0f : 0.0f;
            }
        }
        /* Gauss-Jordan with partial pivoting: inverse and determinant */
        float det = 1.0f;
        for (int c = 0; c < NAIVE_D; c++) {
            int p = c;
            for (int r = c + 1; r < NAIVE_D; r++)
                if (fabsf(a[r][c]) > fabsf(a[p][c])) p = r;
            if (p != c) {
                for (int j = 0; j < NAIVE_D; j++) {
                    float t = a[c][j]; a[c][j] = a[p][j]; a[p][j] = t;
                    t = inv[c][j]; inv[c][j] = inv[p][j]; inv[p][j] = t;
                }
                det = -det;
            }
            const float piv = a[c][c];
            det *= piv;
            for (int j = 0; j < NAIVE_D; j++) {
                a[c][j] /= piv;
                inv[c][j] /= piv;
            }
            for (int r = 0; r < NAIVE_D; r++) {
                if (r == c) continue;
                const float f = a[r][c];
                for (int j = 0; j < NAIVE_D; j++) {
                    a[r][j] -= f * a[c][j];
                    inv[r][j] -= f * inv[c][j];
                }
            }
        }
#endif
        float d[NAIVE_D];
        for (int i = 0; i < NAIVE_D; i++) d[i] = x[i] - naive_means[k * NAIVE_D + i];
        float q = 0.0f;
        for (int i = 0; i < NAIVE_D; i++)
            for (int j = 0; j < NAIVE_D; j++) q += d[i] * inv[i][j] * d[j];
        const float norm = sqrtf(powf(2.0f * (float)M_PI, (float)NAIVE_D) * det);
        const float density = naive_weights[k] * expf(-0.5f * q) / norm;
        if (density > best_density) {
            best_density = density;
            best = k;
        }
    }
    return best;
}

#endif /* NAIVE_GMM_H */
