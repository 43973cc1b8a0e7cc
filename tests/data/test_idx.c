/* IDX files: round trips through nn_idx_write / nn_idx_read, plain and gzip, and every way a
 * damaged file is reported (each message must name the file and the byte offset). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nn_base.h"
#include "nn_idx.h"
#include "nn_test.h"

static char dir[] = "/tmp/nn_test_idx.XXXXXX";

static const char *path_of(const char *name) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

static void write_raw(const char *path, const unsigned char *bytes, size_t n) {
  FILE *f = fopen(path, "wb");
  CHECK(f && fwrite(bytes, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

static void write_gz(const char *path, const unsigned char *bytes, size_t n) {
  gzFile gz = gzopen(path, "wb");
  CHECK(gz && gzwrite(gz, bytes, (unsigned)n) == (int)n && gzclose(gz) == Z_OK, "cannot write %s",
        path);
}

/* Reading `name` must fail with a message holding the path and each of the two fragments. */
static void expect_error(const char *name, const char *want, const char *want_too) {
  const char *path = path_of(name);
  nn_tensor t;
  int rc = nn_idx_read(path, &t);
  const char *e = nn_error();
  CHECK(rc == -1 && t.data == NULL, "%s: read succeeded", name);
  CHECK(strstr(e, path) != NULL, "%s: message does not name the file: %s", name, e);
  CHECK(strstr(e, want) != NULL, "%s: message lacks '%s': %s", name, want, e);
  CHECK(!want_too || strstr(e, want_too) != NULL, "%s: message lacks '%s': %s", name, want_too, e);
}

static void test_round_trip_u8(void) {
  nn_tensor t, back;
  int64_t shape[3] = {2, 3, 4};  /* (2, 3, 4) */
  CHECK_OK(nn_tensor_init(&t, NN_U8, 3, shape));
  for (size_t i = 0; i < t.count; i++) ((uint8_t *)t.data)[i] = (uint8_t)(i * 11);
  CHECK_OK(nn_idx_write(path_of("u8.idx"), &t));
  CHECK_OK(nn_idx_read(path_of("u8.idx"), &back));
  CHECK(back.dtype == NN_U8 && back.ndim == 3, "dtype %d ndim %d", back.dtype, back.ndim);
  CHECK(back.shape[0] == 2 && back.shape[1] == 3 && back.shape[2] == 4, "shape differs");
  CHECK(back.count == t.count && memcmp(back.data, t.data, t.count) == 0, "data differs");
  nn_tensor_free(&t);
  nn_tensor_free(&back);
}

static void test_round_trip_i32_f32(void) {
  nn_tensor t, back;
  int64_t shape[1] = {5};
  const int32_t ints[5] = {0, -1, 7, 2147483647, -2147483647 - 1};
  CHECK_OK(nn_tensor_init(&t, NN_I32, 1, shape));
  memcpy(t.data, ints, sizeof ints);
  CHECK_OK(nn_idx_write(path_of("i32.idx"), &t));
  CHECK_OK(nn_idx_read(path_of("i32.idx"), &back));
  CHECK(back.dtype == NN_I32 && back.count == 5 && memcmp(back.data, ints, sizeof ints) == 0,
        "int32 round trip differs");
  nn_tensor_free(&t);
  nn_tensor_free(&back);

  const float floats[5] = {0.0f, -1.5f, 3.25e-7f, 1e30f, 0.1f};
  CHECK_OK(nn_tensor_init(&t, NN_F32, 1, shape));
  memcpy(t.data, floats, sizeof floats);
  CHECK_OK(nn_idx_write(path_of("f32.idx"), &t));
  CHECK_OK(nn_idx_read(path_of("f32.idx"), &back));
  CHECK(back.dtype == NN_F32 && back.count == 5 && memcmp(back.data, floats, sizeof floats) == 0,
        "float32 round trip differs");
  nn_tensor_free(&t);
  nn_tensor_free(&back);
}

/* A file written by hand, so the byte order is checked against the format, not against our own
 * writer. */
static void test_big_endian(void) {
  const unsigned char i32[] = {0, 0, 0x0C, 1, 0, 0, 0, 2,
                               0x01, 0x02, 0x03, 0x04, 0xFF, 0xFF, 0xFF, 0xFE};
  const unsigned char f32[] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3F, 0xC0, 0x00, 0x00};  /* 1.5f */
  write_raw(path_of("be_i32.idx"), i32, sizeof i32);
  write_raw(path_of("be_f32.idx"), f32, sizeof f32);
  nn_tensor t;
  CHECK_OK(nn_idx_read(path_of("be_i32.idx"), &t));
  CHECK(t.count == 2 && ((int32_t *)t.data)[0] == 0x01020304 && ((int32_t *)t.data)[1] == -2,
        "int32 not read big-endian");
  nn_tensor_free(&t);
  CHECK_OK(nn_idx_read(path_of("be_f32.idx"), &t));
  CHECK(t.count == 1 && ((float *)t.data)[0] == 1.5f, "float32 not read big-endian");
  nn_tensor_free(&t);
}

static void test_gzip(void) {
  /* (2, 2) uint8 */
  const unsigned char file[] = {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 2, 10, 20, 30, 40};
  write_gz(path_of("small.idx.gz"), file, sizeof file);
  nn_tensor t;
  CHECK_OK(nn_idx_read(path_of("small.idx.gz"), &t));
  CHECK(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 2 && t.count == 4, "gzip shape differs");
  CHECK(t.data && memcmp(t.data, file + 12, 4) == 0, "gzip data differs");
  nn_tensor_free(&t);

  /* Cut short inside the compressed data, past the part that holds the header. */
  unsigned char big[8 + 100000];
  memcpy(big, (const unsigned char[]){0, 0, 0x08, 1, 0, 0x01, 0x86, 0xA0}, 8);  /* (100000,) */
  srand(1);
  for (size_t i = 8; i < sizeof big; i++) big[i] = (unsigned char)rand();  /* incompressible */
  write_gz(path_of("cut.idx.gz"), big, sizeof big);
  char *gz;
  size_t gz_bytes;
  CHECK_OK(nn_file_read(path_of("cut.idx.gz"), &gz, &gz_bytes));
  write_raw(path_of("cut.idx.gz"), (unsigned char *)gz, gz_bytes / 2);
  free(gz);
  expect_error("cut.idx.gz", "truncated at byte", "header promises 100000 bytes of data");
}

static void test_errors(void) {
  const unsigned char magic[] = {1, 0, 0x08, 1, 0, 0, 0, 1, 5};
  write_raw(path_of("magic.idx"), magic, sizeof magic);
  expect_error("magic.idx", "byte 0: not an IDX file", NULL);

  const unsigned char type[] = {0, 0, 0x07, 1, 0, 0, 0, 1, 5};
  write_raw(path_of("type.idx"), type, sizeof type);
  expect_error("type.idx", "byte 2: unknown IDX element type 0x07", NULL);

  const unsigned char f64[] = {0, 0, 0x0E, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  write_raw(path_of("f64.idx"), f64, sizeof f64);
  expect_error("f64.idx", "byte 2: element type 0x0E (float64)", "not supported");

  const unsigned char dims5[] = {0, 0, 0x08, 5};
  write_raw(path_of("dims5.idx"), dims5, sizeof dims5);
  expect_error("dims5.idx", "byte 3: 5 dimensions", NULL);

  const unsigned char empty[] = {0};
  write_raw(path_of("empty.idx"), empty, 0);
  expect_error("empty.idx", "truncated at byte 0", "4-byte header");

  const unsigned char short_header[] = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0};
  write_raw(path_of("short_header.idx"), short_header, sizeof short_header);
  expect_error("short_header.idx", "truncated at byte 10", "promises 3 dimensions");

  /* (10,) uint8 with 6 bytes of data: the data starts at byte 8. */
  const unsigned char truncated[] = {0, 0, 0x08, 1, 0, 0, 0, 10, 1, 2, 3, 4, 5, 6};
  write_raw(path_of("truncated.idx"), truncated, sizeof truncated);
  const char *promise = "header promises 10 bytes of data, file has 6";
  expect_error("truncated.idx", "truncated at byte 14", promise);
  write_gz(path_of("truncated.idx.gz"), truncated, sizeof truncated);
  expect_error("truncated.idx.gz", "truncated at byte 14", promise);

  /* (2,) int32: 8 bytes of data from byte 8, then 3 more. */
  const unsigned char trailing[] = {0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 9, 9, 9};
  write_raw(path_of("trailing.idx"), trailing, sizeof trailing);
  expect_error("trailing.idx", "byte 16: 3 bytes of unexpected data", NULL);

  /* 2^32-1 elements of 4 bytes fit in 64 bits; a second such dimension does not (it starts at byte
   * 8). */
  const unsigned char overflow[] = {0, 0, 0x0C, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                    0, 0, 0, 1};
  write_raw(path_of("overflow.idx"), overflow, sizeof overflow);
  expect_error("overflow.idx", "byte 8: dimension 2 (4294967295)", "overflow");

  expect_error("missing.idx", "no such file", "./setup.sh");

  nn_tensor scalar;
  CHECK_OK(nn_tensor_init(&scalar, NN_F32, 0, NULL));
  CHECK(nn_idx_write(path_of("scalar.idx"), &scalar) == -1 && strstr(nn_error(), "1 to 4"),
        "writing a 0-dimensional tensor: %s", nn_error());
  nn_tensor_free(&scalar);
}

int main(void) {
  if (!mkdtemp(dir)) {
    perror(dir);
    return 1;
  }
  test_round_trip_u8();
  test_round_trip_i32_f32();
  test_big_endian();
  test_gzip();
  test_errors();
  nn_test_remove_dir(dir);
  return nn_test_done();
}
