/* nn_svm: a linear support vector machine, the one scikit-learn's LinearSVC trains by default.
 *
 * It minimises the L2-regularised squared-hinge (L2-loss) objective
 *     0.5 |w|^2 + C sum_i max(0, 1 - y_i w·x_i)^2
 * where every x_i carries an extra feature of value `bias` (intercept_scaling), so the intercept
 * is regularised like any weight. The solver is liblinear's dual coordinate descent
 * (Hsieh et al., ICML 2008; liblinear's solve_l2r_l1l2_svc with shrinking): each pass visits the
 * dual variables in a random order and stops when the projected gradient's spread falls to tol,
 * or after max_iter passes. The problems here are small and dense, so this is plain host C in
 * double precision.
 */
#ifndef NN_SVM_H
#define NN_SVM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct nn_svm_options {
  double c;       /* C, the weight of the loss (LinearSVC: 1) */
  double tol;     /* stopping tolerance on the projected gradient (1e-4) */
  int max_iter;   /* passes over the data at most (LinearSVC: 1000; the report used 10,000) */
  double bias;    /* value of the extra feature; 0 means no intercept (intercept_scaling: 1) */
  uint64_t seed;  /* seeds the order in which the dual variables are visited */
} nn_svm_options;

typedef struct nn_svm_info {
  int iterations;  /* passes made */
  bool converged;  /* stopped by tol rather than max_iter */
} nn_svm_info;

/* Trains on x (n, d) with labels y (n), each +1 or -1. w (d + 1) receives the weights then the
 * intercept b (already multiplied by bias), so the decision function is w·x + b. */
int nn_svm_fit(const double *x, const int *y, int n, int d, const nn_svm_options *opt, double *w,
               nn_svm_info *info);

/* The fraction of samples with y_i (w·x_i + b) > 0; w (d + 1) as nn_svm_fit gives it. */
double nn_svm_accuracy(const double *x, const int *y, int n, int d, const double *w);

#endif
