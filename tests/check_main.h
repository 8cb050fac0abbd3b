/*
 * check_main.h: every tests/check_<module>.c ends with QD_CHECK_MAIN(<module>_suite), which gives
 * it a main that runs its one suite and exits non-zero on any failure. Suites are separate
 * programs so that one module's crash cannot hide another's results.
 */
#ifndef QD_CHECK_MAIN_H
#define QD_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define QD_CHECK_MAIN(suite_fn)                                                                    \
    int main(void)                                                                                 \
    {                                                                                              \
        SRunner *sr = srunner_create(suite_fn());                                                  \
        srunner_run_all(sr, CK_NORMAL);                                                            \
        int failed = srunner_ntests_failed(sr);                                                    \
        srunner_free(sr);                                                                          \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                                               \
    }

#endif
