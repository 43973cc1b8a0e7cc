/* nn_base: error messages, checked allocation, hashing, atomic files, time. */
#define _POSIX_C_SOURCE 200809L
#include "nn_base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One message per thread: sweeps may run members on several devices from several threads. */
static _Thread_local char error_message[1024];

int nn_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error_message, sizeof error_message, fmt, ap);
  va_end(ap);
  return -1;
}

int nn_fail_prefix(const char *fmt, ...) {
  char prefix[512], old[sizeof error_message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, error_message, sizeof old);
  snprintf(error_message, sizeof error_message, "%.400s: %.600s", prefix, old);
  return -1;
}

const char *nn_error(void) { return error_message; }

void *nn_alloc(size_t bytes, const char *what) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) nn_fail("out of host memory allocating %zu bytes for %s", bytes, what);
  return p;
}

void *nn_calloc(size_t count, size_t size, const char *what) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) nn_fail("out of host memory allocating %zu x %zu bytes for %s", count, size, what);
  return p;
}

int nn_mul_size(size_t a, size_t b, size_t *out, const char *what) {
  if (a != 0 && b > SIZE_MAX / a) return nn_fail("%s: size %zu x %zu overflows", what, a, b);
  *out = a * b;
  return 0;
}

uint64_t nn_hash(uint64_t seed, const void *data, size_t bytes) {
  const unsigned char *p = data;
  uint64_t h = seed;
  for (size_t i = 0; i < bytes; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t nn_hash_str(uint64_t seed, const char *s) { return nn_hash(seed, s, strlen(s) + 1); }

int nn_file_read(const char *path, char **data, size_t *bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return nn_fail("%s: %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 65536 + 1 > cap) {
      cap = cap ? cap * 2 : 131072;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return nn_fail("%s: out of host memory after %zu bytes", path, len);
      }
      buf = nb;
    }
    size_t got = fread(buf + len, 1, 65536, f);
    len += got;
    if (got < 65536) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return nn_fail("%s: read error at byte %zu", path, len);
  }
  buf[len] = 0;
  *data = buf;
  *bytes = len;
  return 0;
}

int nn_file_write_atomic(const char *path, const void *data, size_t bytes) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return nn_fail("%s: path too long", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return nn_fail("%s: cannot create temp file: %s", path, strerror(errno));
  const char *p = data;
  size_t left = bytes;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      unlink(tmp);
      return nn_fail("%s: write failed after %zu of %zu bytes: %s (the previous file is kept)", path,
                     bytes - left, bytes, strerror(e));
    }
    p += n;
    left -= (size_t)n;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    int e = errno;
    unlink(tmp);
    return nn_fail("%s: could not flush to disk: %s (the previous file is kept)", path, strerror(e));
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return nn_fail("%s: rename failed: %s", path, strerror(e));
  }
  return 0;
}

int nn_mkdirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return nn_fail("bad folder path '%s'", path);
  memcpy(buf, path, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return nn_fail("%s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) return nn_fail("%s: %s", buf, strerror(errno));
  return 0;
}

double nn_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
