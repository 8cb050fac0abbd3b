/*
 * rng.h: the project's one random number generator (xoshiro256**), small enough to store in a
 * checkpoint so that a resumed run draws the same numbers as an uninterrupted one.
 * The state is a plain value: copy it to fork a stream, write it to save it.
 */
#ifndef QD_RNG_H
#define QD_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);       /* any seed, including 0 */
uint64_t rng_next(rng *r);
uint32_t rng_below(rng *r, uint32_t n);     /* uniform in [0, n), n > 0 */
float rng_uniform(rng *r);                  /* uniform in [0, 1) */
float rng_normal(rng *r);                   /* standard normal */
void rng_shuffle(rng *r, int *a, int n);    /* Fisher-Yates */

#endif
