/* nn_base: what every other module of nnrun needs and nothing else.
 *
 * Errors. A fallible function returns int: 0 on success, -1 on failure, after recording a one-line
 * message with nn_fail(). Callers that add context use nn_fail_prefix(). Only the Lua binding turns
 * the message into a Lua error (with the script's file:line); only main() prints it.
 *
 * Files. Results, checkpoints and caches are written with nn_file_write_atomic(): temp file, fsync,
 * rename, so a reader sees the old file or the new one, never half of one.
 */
#ifndef NN_BASE_H
#define NN_BASE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define NN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NN_PRINTF(f, a)
#endif

/* Records the message for this thread and returns -1, so `return nn_fail(...)` reads naturally. */
int nn_fail(const char *fmt, ...) NN_PRINTF(1, 2);
/* Puts "<prefix>: " in front of the recorded message; returns -1. */
int nn_fail_prefix(const char *fmt, ...) NN_PRINTF(1, 2);
/* The last message recorded on this thread ("" if none). */
const char *nn_error(void);

/* Allocation that reports what it was for instead of crashing. NULL (with nn_fail) on failure. */
void *nn_alloc(size_t bytes, const char *what);
void *nn_calloc(size_t count, size_t size, const char *what);

/* Multiplies sizes, failing (instead of wrapping) on overflow: 0 ok, -1 with message. */
int nn_mul_size(size_t a, size_t b, size_t *out, const char *what);

/* 64-bit FNV-1a; chain calls by passing the previous hash as seed (start with NN_HASH_SEED). */
#define NN_HASH_SEED 0xcbf29ce484222325ull
uint64_t nn_hash(uint64_t seed, const void *data, size_t bytes);
uint64_t nn_hash_str(uint64_t seed, const char *s);

/* Whole-file helpers. nn_file_read returns a malloc'd buffer (with a NUL after the data). */
int nn_file_read(const char *path, char **data, size_t *bytes);
int nn_file_write_atomic(const char *path, const void *data, size_t bytes);
/* mkdir -p; 0 if the folder exists afterwards. */
int nn_mkdirs(const char *path);

/* Monotonic seconds, for timings. */
double nn_seconds(void);

/* Environment variables: every NN_* variable nnrun reads is declared in one table (nn_env.c). */
typedef struct nn_env_var {
  const char *name;  /* NN_DEVICE */
  const char *help;  /* one line for `nnrun --help` and the README */
} nn_env_var;
extern const nn_env_var nn_env_vars[];
/* getenv for a declared variable; NULL when unset or empty. Asking for an undeclared one aborts
 * in debug builds, so the table stays the single list. */
const char *nn_env(const char *name);

#endif
