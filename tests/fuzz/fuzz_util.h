/*
 * fuzz_util.h: what the libFuzzer targets in tests/fuzz share. FUZZ_CHECK states an invariant
 * of the code under test: when it does not hold the target aborts, and libFuzzer saves the input
 * as a crash, exactly as for a sanitizer report.
 */
#ifndef QD_FUZZ_UTIL_H
#define QD_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
