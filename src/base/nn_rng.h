/* nn_rng: the one random number generator (PCG32, O'Neill 2014). Everything seeded in nnrun
 * (subsets, shuffles, initialisers, dropout seeds, jitter) draws from an nn_rng, so a seed gives
 * the same run on every machine. */
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct nn_rng {
  uint64_t state;
  uint64_t inc;  /* stream selector, always odd */
} nn_rng;

void nn_rng_seed(nn_rng *rng, uint64_t seed);
uint32_t nn_rng_u32(nn_rng *rng);
/* Uniform in [0, n), without modulo bias. n > 0. */
uint32_t nn_rng_below(nn_rng *rng, uint32_t n);
/* Uniform double in [0, 1). */
double nn_rng_uniform(nn_rng *rng);
/* Standard normal (Box-Muller). */
double nn_rng_normal(nn_rng *rng);
/* Fisher-Yates shuffle of n int32 values. */
void nn_rng_shuffle(nn_rng *rng, int32_t *values, size_t n);

#endif
