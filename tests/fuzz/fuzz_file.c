/* fuzz_write_file (see fuzz.h). */
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz.h"

static char path[256];

static void remove_file(void) { unlink(path); }

const char *fuzz_write_file(const char *tag, const uint8_t *data, size_t size, int gzip) {
  if (!path[0]) {
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/nnrun-fuzz-%s-%ld", dir && *dir ? dir : "/tmp", tag, (long)getpid());
    atexit(remove_file);
  }
  if (gzip) {
    gzFile gz = gzopen(path, "wb");
    FUZZ_CHECK(gz != NULL);
    FUZZ_CHECK(size == 0 || gzwrite(gz, data, (unsigned)size) == (int)size);
    FUZZ_CHECK(gzclose(gz) == Z_OK);
  } else {
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(size == 0 || fwrite(data, 1, size, f) == size);
    FUZZ_CHECK(fclose(f) == 0);
  }
  return path;
}
