/* The fuzz targets' main() in normal builds: runs every file named on the command line, or found
 * in a folder named there, through LLVMFuzzerTestOneInput once, as libFuzzer would. The tests
 * in tests/fuzz/meson.build run each target's corpus with it: the seeds and every input that once
 * crashed a reader stay regression tests in every build, sanitized or not. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: cannot open\n", path);
    return -1;
  }
  uint8_t *data = NULL;
  size_t size = 0, cap = 0, got;
  do {
    if (size == cap) {
      cap = cap ? 2 * cap : 4096;
      uint8_t *grown = realloc(data, cap);
      FUZZ_CHECK(grown != NULL);
      data = grown;
    }
    got = fread(data + size, 1, cap - size, f);
    size += got;
  } while (got > 0);
  fclose(f);
  /* libFuzzer hands over a buffer of exactly the input's size; so do we, for ASan's sake. */
  uint8_t *exact = malloc(size ? size : 1);
  FUZZ_CHECK(exact != NULL);
  if (size) memcpy(exact, data, size);
  free(data);
  LLVMFuzzerTestOneInput(exact, size);
  free(exact);
  return 0;
}

int main(int argc, char **argv) {
  int inputs = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "%s: no such file or folder\n", argv[i]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      bad |= run_file(argv[i]);
      inputs++;
      continue;
    }
    struct dirent **names;
    int n = scandir(argv[i], &names, NULL, alphasort);
    if (n < 0) {
      fprintf(stderr, "%s: cannot list\n", argv[i]);
      return 1;
    }
    for (int k = 0; k < n; k++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
      if (names[k]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        bad |= run_file(path);
        inputs++;
      }
      free(names[k]);
    }
    free(names);
  }
  printf("%d inputs ran without a crash\n", inputs);
  return bad || inputs == 0 ? 1 : 0;
}
