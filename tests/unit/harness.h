/* harness.h: the unit-test harness, in the spirit of jsmn's test/: a test is a
 * function; CHECK records a failure without stopping it; harness_report prints
 * the plain closing line "N passed, N failed" that CI reads. No allocation. */
#ifndef TRYON_HARNESS_H
#define TRYON_HARNESS_H
#include <stdio.h>

static int harness_passed, harness_failed, harness_current_failed;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			harness_current_failed = 1;                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",         \
				__FILE__, __LINE__, #cond);                  \
		}                                                            \
	} while (0)

#define RUN(test_fn)                                                         \
	do {                                                                 \
		harness_current_failed = 0;                                  \
		test_fn();                                                   \
		if (harness_current_failed) {                                \
			harness_failed++;                                    \
			fprintf(stderr, "FAIL %s\n", #test_fn);              \
		} else {                                                     \
			harness_passed++;                                    \
		}                                                            \
	} while (0)

static inline int harness_report(void)
{
	printf("%d passed, %d failed\n", harness_passed, harness_failed);
	return harness_failed ? 1 : 0;
}
#endif
