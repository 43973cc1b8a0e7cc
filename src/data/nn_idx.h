/* nn_idx: IDX files, the format MNIST and Fashion-MNIST ship in (LeCun's format).
 *
 * Layout: bytes 0-1 are zero; byte 2 is the element type (0x08 uint8, 0x0C int32, 0x0D float32
 * here; the format also has 0x09, 0x0B and 0x0E, which no data set of ours uses); byte 3 is the
 * number of dimensions; then one big-endian uint32 per dimension; then the elements, big-endian,
 * row-major. Files may be gzip-compressed (Fashion-MNIST is shipped as .gz); reading handles both.
 *
 * Every error names the file and the byte offset where it went wrong, so a damaged download can be
 * told from a bug.
 */
#ifndef NN_IDX_H
#define NN_IDX_H

#include "nn_tensor.h"

/* Reads a plain or gzip IDX file into *out (NN_U8, NN_I32 or NN_F32, converted to host byte
 * order; the shape is the file's, 1 to 4 dimensions). The whole file must be exactly what the
 * header promises: a short file or trailing bytes are errors. On failure *out is left empty. */
int nn_idx_read(const char *path, nn_tensor *out);

/* Writes t (1 to 4 dimensions, each below 2^32) as a plain IDX file, atomically. */
int nn_idx_write(const char *path, const nn_tensor *t);

#endif
