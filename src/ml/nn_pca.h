/* nn_pca: principal component analysis of any (n, d) data set.
 *
 * The covariance C = Xcᵀ Xc / (n - 1) of the mean-centred data is one GEMM on the device
 * (nn_gemm); its eigendecomposition is LAPACK's symmetric divide-and-conquer solver (dsyevd,
 * through LAPACKE) in double precision on the host, where a d x d problem (784 x 784 for MNIST)
 * takes a fraction of a second.
 *
 * Sign convention: an eigenvector is only defined up to its sign, so each component is flipped
 * to make its entry of largest absolute value positive (the first such entry on ties). The same
 * data then give the same components on every machine and LAPACK build.
 */
#ifndef NN_PCA_H
#define NN_PCA_H

#include "nn_cl.h"

typedef struct nn_pca {
  int n;               /* samples fitted */
  int d;               /* features */
  double *mean;        /* (d) feature means */
  double *variances;   /* (d) eigenvalues of the covariance, largest first, clamped at >= 0 */
  double *components;  /* (d, d) row i: the unit-length axis whose variance is variances[i] */
  double total;        /* sum of the variances (the covariance's trace) */
} nn_pca;

/* cov (d, d) = Xcᵀ Xc / (n - 1), with Xc = x - mean; x (n, d) float32 row-major, mean (d) is
 * written too. The centring is done on the host in double, the product on the device. n >= 2. */
int nn_pca_covariance(nn_cl *cl, const float *x, int n, int d, double *mean, double *cov);

/* Eigenvalues (d) largest first and eigenvectors as the rows of vectors (d, d), signs fixed by
 * the convention above, of the symmetric a (d, d) (only its upper triangle is read). a is
 * overwritten. */
int nn_pca_eigh(double *a, int d, double *values, double *vectors);

/* Fits p (zeroed on failure) to x (n, d). Free with nn_pca_free. */
int nn_pca_fit(nn_cl *cl, const float *x, int n, int d, nn_pca *p);
void nn_pca_free(nn_pca *p);

/* y (n, k) = (x - mean) · components[0..k)ᵀ for x (n, d); 1 <= k <= d. */
int nn_pca_transform(const nn_pca *p, const float *x, int n, int k, double *y);

#endif
