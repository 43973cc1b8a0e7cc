/* nn_perceptron: Rosenblatt's perceptron for binary problems, many trained at once on the device.
 *
 * The rule, per epoch: visit the samples in a fresh random order; for each sample whose label
 * y = ±1 disagrees with sign(w·x + b) (a score of exactly 0 counts as wrong),
 *     w <- w + eta y x,   b <- b + eta y.
 * Weights and bias start from a seeded normal draw of standard deviation init_scale. After each
 * epoch the training error (the fraction of training samples the current weights misclassify)
 * is measured. Training stops when an epoch made no update (the weights can no longer change),
 * after max_epochs, or, as scikit-learn's Perceptron does with its loss, when n_iter_no_change
 * epochs in a row failed to bring the error below the best so far minus tol.
 *
 * On data that are not linearly separable the weights never settle: each mistake moves them, so
 * the error of the last epoch's weights is a draw from a wide range (3% to 8% from one epoch to
 * the next on MNIST's 8 vs 3). The weights after the epoch with the lowest training error are
 * therefore kept too (Gallant's pocket algorithm, 1990): the model the stopping rule's "best so
 * far" refers to. Both the final and the pocket weights are returned.
 *
 * The rule is sequential within a problem, so the device runs one work-group per problem
 * (cl/perceptron.cl): the group shares each sample's dot product and update, and the problems
 * run side by side. nn_perceptron_train_host is the same algorithm in plain C, with the same
 * random draws: the reference for the tests and the baseline for timings.
 */
#ifndef NN_PERCEPTRON_H
#define NN_PERCEPTRON_H

#include <stdbool.h>
#include <stdint.h>

#include "nn_cl.h"

typedef struct nn_perceptron_options {
  float eta;             /* learning rate (0.01) */
  int max_epochs;        /* passes over the data at most (1000) */
  double tol;            /* improvement of the training error that counts (1e-3) */
  int n_iter_no_change;  /* epochs without such an improvement before stopping (5) */
  float init_scale;      /* standard deviation of the initial weights and bias */
  int local_size;        /* work-items per problem on the device, a power of two; 0: chosen */
} nn_perceptron_options;

/* One binary problem: its inputs, then what training fills in. */
typedef struct nn_perceptron_problem {
  const float *x;    /* (n, d) training samples */
  const int8_t *y;   /* (n) labels, +1 or -1 */
  int n;
  uint64_t seed;     /* initial weights and the order of every epoch */

  float *w;          /* (d + 1) out: the final weights, then the bias */
  float *best_w;     /* (d + 1) out: the weights and bias after the epoch of lowest error */
  int best_epoch;    /* out: that epoch, from 1 */
  float *errors;     /* (max_epochs) out: training error after each epoch; [0, epochs) set */
  int epochs;        /* out: epochs run */
  bool converged;    /* out: stopped because an epoch made no update */
} nn_perceptron_problem;

/* Trains `count` problems of d features each on the device. */
int nn_perceptron_train(nn_cl *cl, nn_perceptron_problem *problems, int count, int d,
                        const nn_perceptron_options *opt);

/* The same, one problem at a time on the host. */
int nn_perceptron_train_host(nn_perceptron_problem *problems, int count, int d,
                             const nn_perceptron_options *opt);

/* The fraction of x (n, d) that w (d + 1) misclassifies against y (n). */
double nn_perceptron_error(const float *x, const int8_t *y, int n, int d, const float *w);

#endif
