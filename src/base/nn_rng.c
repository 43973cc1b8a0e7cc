/* nn_rng: PCG32 (XSH RR). */
#include "nn_rng.h"

#include <math.h>

void nn_rng_seed(nn_rng *rng, uint64_t seed) {
  rng->state = 0;
  rng->inc = (seed << 1u) | 1u;
  nn_rng_u32(rng);
  rng->state += 0x853c49e6748fea9bull ^ seed;
  nn_rng_u32(rng);
}

uint32_t nn_rng_u32(nn_rng *rng) {
  uint64_t old = rng->state;
  rng->state = old * 6364136223846793005ull + rng->inc;
  uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = (uint32_t)(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint32_t nn_rng_below(nn_rng *rng, uint32_t n) {
  uint32_t threshold = -n % n;  /* 2^32 mod n: values below it would bias the result */
  for (;;) {
    uint32_t r = nn_rng_u32(rng);
    if (r >= threshold) return r % n;
  }
}

double nn_rng_uniform(nn_rng *rng) {
  uint64_t hi = nn_rng_u32(rng) >> 5, lo = nn_rng_u32(rng) >> 6;  /* 53 random bits */
  return (double)(hi * 67108864u + lo) / 9007199254740992.0;
}

double nn_rng_normal(nn_rng *rng) {
  double u1 = nn_rng_uniform(rng), u2 = nn_rng_uniform(rng);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void nn_rng_shuffle(nn_rng *rng, int32_t *values, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = nn_rng_below(rng, (uint32_t)i);
    int32_t t = values[i - 1];
    values[i - 1] = values[j];
    values[j] = t;
  }
}
