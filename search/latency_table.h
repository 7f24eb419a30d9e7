// Latency lookup tables (LUT profiles): a network's latency on a device predicted as the sum of
// its operators' latencies measured there (nas-profile), plus a fitted per-inference overhead,
// as nn-Meter and once-for-all predict it.
//
//   std::vector<LatencyOp> ops = SpaceOperators(space, FashionMnistInput());  // to measure
//   absl::StatusOr<nas::v1::LatencyTable> table = ParseLatencyTable(file_text);
//   absl::StatusOr<double> ms = PredictLatencyMs(*table, arch, FashionMnistInput());
//
// An operator is a whole block (of any type, with its residual), the stem, the input
// normalisation (and resize), the head's 1x1 convolution, or the head (pooling and classifier):
// the units
// the trainer builds, so fused element-wise work is measured where it runs. Keys name every
// shape that matters, e.g. "mbconv:k3:e6:se0:in24:out32:s2:r28".
#ifndef NAS_SEARCH_LATENCY_TABLE_H_
#define NAS_SEARCH_LATENCY_TABLE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/nas.pb.h"
#include "search/cost_model.h"
#include "search/search_space.h"

namespace nas {

// LatencyOp: one operator of a network, with what it takes to build it alone.
struct LatencyOp {
  enum class Kind { kInput, kStem, kBlock, kHeadConv, kHead };
  Kind kind = Kind::kInput;
  nas::v1::BlockType type = nas::v1::INVERTED_RESIDUAL;  // blocks
  bool relu = false;                                     // the stem: ReLU (ResNet family) or ReLU6
  int in = 0;                                            // input channels
  int out = 0;                                           // output channels (classes for the head)
  int kernel = 0;                                        // blocks
  int expansion = 0;                                     // inverted residuals
  bool squeeze_excite = false;
  int stride = 1;
  int resolution = 0;                     // input height and width of the operator
  int input_height = 0, input_width = 0;  // the dataset's images (input operator)

  std::string Key() const;
};

// NetworkOperators() returns the operators of `arch` in the order they run.
std::vector<LatencyOp> NetworkOperators(const nas::v1::Architecture& arch, const InputShape& input);

// SpaceOperators() returns every distinct operator any architecture of `space` can contain, in
// a stable order (sorted by key): what nas-profile measures.
std::vector<LatencyOp> SpaceOperators(const SearchSpaceDef& space, const InputShape& input);

// PredictLatencyMs() returns the sum of the table's means over `arch`'s operators plus the
// table's overhead. NotFound naming the first operator the table lacks (measured for another
// space, dataset or narrower choices).
absl::StatusOr<double> PredictLatencyMs(const nas::v1::LatencyTable& table,
                                        const nas::v1::Architecture& arch, const InputShape& input);

// FormatLatencyTable() writes the text form ParseLatencyTable() reads:
//
//   # nas-profile latency table v1
//   device  <free text>
//   threads 1
//   overhead_ms 0.0213
//   op mbconv:k3:e6:se0:in24:out32:s2:r28 0.4123 0.0012 50
//
// (an "op" line: key, mean ms, variance ms^2, runs). Blank lines and "#" comments are skipped.
std::string FormatLatencyTable(const nas::v1::LatencyTable& table);

// ParseLatencyTable() reads that text. InvalidArgument naming the line ("line 7: ...") for a
// malformed line, a negative or non-finite figure, a duplicate key or a table without ops.
absl::StatusOr<nas::v1::LatencyTable> ParseLatencyTable(absl::string_view text);

}  // namespace nas

#endif  // NAS_SEARCH_LATENCY_TABLE_H_
