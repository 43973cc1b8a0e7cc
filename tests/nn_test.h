/* A minimal C test harness: CHECK prints the failing expression with file:line and counts it;
 * nn_test_done() prints "N passed, N failed" and returns the exit status for main(). */
#ifndef NN_TEST_H
#define NN_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int nn_test_passed, nn_test_failed;

#define CHECK(cond, ...)                                               \
  do {                                                                 \
    if (cond) {                                                        \
      nn_test_passed++;                                                \
    } else {                                                           \
      nn_test_failed++;                                                \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                    \
      fprintf(stderr, "\n");                                           \
    }                                                                  \
  } while (0)

/* For calls returning 0 / -1 with nn_error(). */
#define CHECK_OK(call) CHECK((call) == 0, "%s", nn_error())

/* Removes a scratch folder a test made (mkdtemp), saying so if it cannot. */
static inline void nn_test_remove_dir(const char *dir) {
  char command[4200];
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static inline int nn_test_done(void) {
  printf("%d passed, %d failed\n", nn_test_passed, nn_test_failed);
  return nn_test_failed ? 1 : 0;
}

#endif
