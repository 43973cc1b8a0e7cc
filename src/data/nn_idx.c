/* nn_idx: reading and writing IDX files (see nn_idx.h). Byte offsets in messages count bytes of
 * the IDX data itself, so for a .gz file they are offsets into the uncompressed stream. */
#include "nn_idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nn_base.h"

/* The IDX element type codes (byte 2). */
enum {
  IDX_U8 = 0x08, IDX_I8 = 0x09, IDX_I16 = 0x0B, IDX_I32 = 0x0C, IDX_F32 = 0x0D, IDX_F64 = 0x0E
};

static int idx_code(nn_dtype dtype) {
  switch (dtype) {
    case NN_U8: return IDX_U8;
    case NN_I32: return IDX_I32;
    case NN_F32: return IDX_F32;
  }
  return 0;
}

/* The element type of byte 2: 0 and *dtype set if nnrun reads it, else -1 with a message. */
static int idx_dtype(const char *path, int code, nn_dtype *dtype) {
  switch (code) {
    case IDX_U8: *dtype = NN_U8; return 0;
    case IDX_I32: *dtype = NN_I32; return 0;
    case IDX_F32: *dtype = NN_F32; return 0;
    case IDX_I8:
    case IDX_I16:
    case IDX_F64:
      return nn_fail("%s: byte 2: element type 0x%02X (%s) is valid IDX but not supported here "
                     "(nnrun reads 0x08 uint8, 0x0C int32, 0x0D float32)", path, code,
                     code == IDX_I8 ? "int8" : code == IDX_I16 ? "int16" : "float64");
  }
  return nn_fail("%s: byte 2: unknown IDX element type 0x%02X (not an IDX file, or a damaged one)",
                 path, code);
}

static uint32_t get_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* Reads up to n bytes at stream position `offset` into buf; *got is how many arrived (fewer at the
 * end of the file). gzread takes an unsigned count, so large payloads go in pieces. */
static int read_upto(gzFile gz, const char *path, size_t offset, void *buf, size_t n, size_t *got) {
  size_t done = 0;
  while (done < n) {
    unsigned piece = n - done > (1u << 30) ? 1u << 30 : (unsigned)(n - done);
    int r = gzread(gz, (char *)buf + done, piece);
    if (r < 0) {
      int code;
      const char *message = gzerror(gz, &code);
      return nn_fail("%s: byte %zu: cannot read: %s", path, offset + done,
                     code == Z_ERRNO ? strerror(errno) : message);
    }
    if (r == 0) break;
    done += (size_t)r;
  }
  *got = done;
  return 0;
}

/* Counts the bytes left in the stream, for the trailing-data message. */
static int count_rest(gzFile gz, const char *path, size_t offset, size_t *rest) {
  char buf[65536];
  size_t got;
  *rest = 0;
  do {
    if (read_upto(gz, path, offset + *rest, buf, sizeof buf, &got) != 0) return -1;
    *rest += got;
  } while (got == sizeof buf);
  return 0;
}

/* Everything after gzopen; the caller closes the file and frees *out on failure. */
static int read_idx(gzFile gz, const char *path, nn_tensor *out) {
  unsigned char head[4 + 4 * NN_MAX_DIMS];
  size_t got;
  if (read_upto(gz, path, 0, head, 4, &got) != 0) return -1;
  if (got < 4)
    return nn_fail("%s: truncated at byte %zu: an IDX file starts with a 4-byte header", path, got);
  if (head[0] != 0 || head[1] != 0)
    return nn_fail("%s: byte 0: not an IDX file (starts 0x%02X 0x%02X, IDX starts 0x00 0x00)", path,
                   head[0], head[1]);
  nn_dtype dtype = NN_U8;  /* set by idx_dtype; the compiler cannot tell */
  if (idx_dtype(path, head[2], &dtype) != 0) return -1;
  int ndim = head[3];
  if (ndim < 1 || ndim > NN_MAX_DIMS)
    return nn_fail("%s: byte 3: %d dimensions (nnrun reads 1 to %d)", path, ndim, NN_MAX_DIMS);

  size_t header = 4 + 4 * (size_t)ndim;
  if (read_upto(gz, path, 4, head + 4, header - 4, &got) != 0) return -1;
  if (got < header - 4)
    return nn_fail("%s: truncated at byte %zu: the header promises %d dimensions (%zu bytes)", path,
                   4 + got, ndim, header);
  int64_t shape[NN_MAX_DIMS];
  size_t bytes = nn_dtype_size(dtype);
  for (int i = 0; i < ndim; i++) {
    uint32_t dim = get_be32(head + 4 + 4 * i);
    if (nn_mul_size(bytes, dim, &bytes, "IDX data") != 0)
      return nn_fail("%s: byte %d: dimension %d (%u) makes the data size overflow", path, 4 + 4 * i,
                     i + 1, dim);
    shape[i] = dim;
  }

  /* The buffer grows with the data that actually arrives, so a header that promises gigabytes
   * costs an error at the byte where the file ends, not an allocation of what it promised. */
  out->dtype = dtype;
  out->ndim = ndim;
  for (int i = 0; i < NN_MAX_DIMS; i++) out->shape[i] = i < ndim ? shape[i] : 1;
  out->count = bytes / nn_dtype_size(dtype);
  size_t have = 0, cap = 0;
  while (have < bytes) {
    size_t want = cap ? (cap > bytes / 2 ? bytes : 2 * cap) : (bytes < 65536 ? bytes : 65536);
    void *grown = realloc(out->data, want);
    if (!grown) return nn_fail("%s: out of host memory reading %zu bytes of data", path, want);
    out->data = grown;
    cap = want;
    if (read_upto(gz, path, header + have, (char *)out->data + have, cap - have, &got) != 0) return -1;
    have += got;
    if (have < cap)
      return nn_fail("%s: truncated at byte %zu: header promises %zu bytes of data, file has %zu",
                     path, header + have, bytes, have);
  }
  if (!out->data && !(out->data = nn_alloc(1, "IDX data"))) return -1;
  size_t rest;
  if (count_rest(gz, path, header + bytes, &rest) != 0) return -1;
  if (rest > 0)
    return nn_fail("%s: byte %zu: %zu bytes of unexpected data after the %zu bytes the header "
                   "promises", path, header + bytes, rest, bytes);

  if (dtype != NN_U8) {
    uint32_t *words = out->data;
    for (size_t i = 0; i < out->count; i++) words[i] = get_be32((const unsigned char *)&words[i]);
  }
  return 0;
}

int nn_idx_read(const char *path, nn_tensor *out) {
  memset(out, 0, sizeof *out);
  gzFile gz = gzopen(path, "rb");
  if (!gz) {
    if (errno == ENOENT)
      return nn_fail("%s: no such file (run ./setup.sh to fetch the data sets)", path);
    return nn_fail("%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
  }
  int rc = read_idx(gz, path, out);
  gzclose(gz);
  if (rc != 0) nn_tensor_free(out);
  return rc;
}

int nn_idx_write(const char *path, const nn_tensor *t) {
  if (t->ndim < 1 || t->ndim > NN_MAX_DIMS)
    return nn_fail("%s: IDX files have 1 to %d dimensions, the tensor has %d", path, NN_MAX_DIMS,
                   t->ndim);
  for (int i = 0; i < t->ndim; i++)
    if (t->shape[i] > (int64_t)UINT32_MAX)
      return nn_fail("%s: dimension %d (%lld) does not fit IDX's 32 bits", path, i + 1,
                     (long long)t->shape[i]);
  size_t header = 4 + 4 * (size_t)t->ndim, elem = nn_dtype_size(t->dtype);
  size_t bytes = header + t->count * elem;  /* t's data exists, so this fits */
  unsigned char *buf = nn_alloc(bytes, "IDX file");
  if (!buf) return -1;
  buf[0] = buf[1] = 0;
  buf[2] = (unsigned char)idx_code(t->dtype);
  buf[3] = (unsigned char)t->ndim;
  for (int i = 0; i < t->ndim; i++) put_be32(buf + 4 + 4 * i, (uint32_t)t->shape[i]);
  if (t->dtype == NN_U8) {
    memcpy(buf + header, t->data, t->count);
  } else {
    const uint32_t *words = t->data;
    for (size_t i = 0; i < t->count; i++) put_be32(buf + header + 4 * i, words[i]);
  }
  int rc = nn_file_write_atomic(path, buf, bytes);
  free(buf);
  return rc;
}
