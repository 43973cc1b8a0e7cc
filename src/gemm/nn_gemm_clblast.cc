// nn_gemm_clblast: CLBlast's C++-only tuning API behind C functions (see nn_gemm_clblast.h).
//
// CLBlast 1.5.3's tuners (clblast::Tune<Kernel><T>) take a fraction of each kernel's search space,
// shuffle the configurations with a fixed seed, keep the first fraction * count of them, time each
// against a reference run and return the fastest. Two of their habits shape this file:
//  - A fraction that rounds down to zero configurations tries none and reports kUnexpectedError,
//    the same code as "every configuration failed". The search spaces differ by orders of magnitude
//    (about 50 configurations for Padtranspose, more than 16,000 for Xgemm), so one fraction fits
//    no kernel alone: we double it until at least one configuration is tried, up to kMaxRaise.
//  - They throw C++ exceptions for sizes a kernel cannot take (Xgemm wants multiples of 128); no
//    exception may cross into C.
// TuneXgemm searches twice, the kernel with GEMMK=0 and then with GEMMK=1, into one map: what comes
// back is the best GEMMK=1 configuration, whichever search found the faster one. nn_gemm_tune
// times the GEMMs before and after for that reason.
#include <clblast.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

extern "C" {
#include "nn_base.h"
#include "nn_cl.h"
#include "nn_gemm_clblast.h"
}

namespace {

using Params = std::unordered_map<std::string, size_t>;

// Raising a fraction stops here: every kernel's search space has more than 16 configurations, so
// a fraction of 1/16 that still tries nothing cannot be the reason for a failure.
constexpr double kMaxRaise = 1.0 / 16;

clblast::StatusCode run_tuner(cl_command_queue *queue, const std::string &kernel, size_t m, size_t n, size_t k,
                              double fraction, Params &best) {
  if (kernel == "Xgemm") return clblast::TuneXgemm<float>(queue, m, n, k, fraction, best);
  if (kernel == "XgemmDirect") return clblast::TuneXgemmDirect<float>(queue, m, n, k, fraction, best);
  if (kernel == "Copy") return clblast::TuneCopy<float>(queue, m, n, fraction, best);
  if (kernel == "Pad") return clblast::TunePad<float>(queue, m, n, fraction, best);
  if (kernel == "Transpose") return clblast::TuneTranspose<float>(queue, m, n, fraction, best);
  if (kernel == "Padtranspose") return clblast::TunePadtranspose<float>(queue, m, n, fraction, best);
  return clblast::StatusCode::kInvalidOverrideKernel;
}

int copy_out(const char *kernel, const Params &params, nn_gemm_params *out) {
  std::vector<std::pair<std::string, size_t>> sorted(params.begin(), params.end());
  std::sort(sorted.begin(), sorted.end());
  if (sorted.size() > NN_GEMM_TUNE_PARAMS)
    return nn_fail("CLBlast kernel '%s' has %zu parameters; nnrun keeps at most %d", kernel, sorted.size(),
                   NN_GEMM_TUNE_PARAMS);
  std::memset(out, 0, sizeof *out);
  std::snprintf(out->kernel, sizeof out->kernel, "%s", kernel);
  for (const auto &p : sorted) {
    if (p.first.size() >= sizeof out->names[0])
      return nn_fail("CLBlast kernel '%s': parameter name '%s' is too long", kernel, p.first.c_str());
    std::snprintf(out->names[out->count], sizeof out->names[0], "%s", p.first.c_str());
    out->values[out->count++] = p.second;
  }
  return 0;
}

}  // namespace

extern "C" int nn_gemm_clblast_tune(cl_command_queue queue, const char *kernel, size_t m, size_t n, size_t k,
                                    double *fraction, nn_gemm_params *out) {
  try {
    for (;;) {
      Params best;
      clblast::StatusCode st = run_tuner(&queue, kernel, m, n, k, *fraction, best);
      if (st == clblast::StatusCode::kSuccess) return copy_out(kernel, best, out);
      if (st != clblast::StatusCode::kUnexpectedError || *fraction >= kMaxRaise)
        return nn_fail("tune CLBlast kernel '%s' (%zux%zux%zu, fraction %g): %s (%d)", kernel, m, n, k, *fraction,
                       nn_cl_error_name(static_cast<int>(st)), static_cast<int>(st));
      *fraction = std::min(kMaxRaise, *fraction * 2);
    }
  } catch (const std::exception &e) {
    return nn_fail("tune CLBlast kernel '%s' (%zux%zux%zu): %s", kernel, m, n, k, e.what());
  } catch (...) {
    return nn_fail("tune CLBlast kernel '%s' (%zux%zux%zu): unknown C++ exception", kernel, m, n, k);
  }
}

extern "C" int nn_gemm_clblast_params(cl_device_id device, const char *kernel, nn_gemm_params *out) {
  try {
    Params params;
    clblast::StatusCode st = clblast::RetrieveParameters(device, kernel, clblast::Precision::kSingle, params);
    if (st != clblast::StatusCode::kSuccess)
      return nn_fail("CLBlast parameters of kernel '%s': %s (%d)", kernel, nn_cl_error_name(static_cast<int>(st)),
                     static_cast<int>(st));
    return copy_out(kernel, params, out);
  } catch (const std::exception &e) {
    return nn_fail("CLBlast parameters of kernel '%s': %s", kernel, e.what());
  } catch (...) {
    return nn_fail("CLBlast parameters of kernel '%s': unknown C++ exception", kernel);
  }
}
