// Operator profiler: measures, on this device, every operator a latency lookup table needs
// (search/latency_table.h), and fits the table's per-inference overhead on whole networks.
// nas-profile runs it on the target device; the predictor benchmark runs it here.
//
//   ProfilerOptions o;                                  // 1 thread, 10 warm-up, 30 runs
//   absl::StatusOr<nas::v1::LatencyTable> table =
//       ProfileOperators(SpaceOperators(space, input), input, o, on_progress);
//   absl::StatusOr<double> overhead = FitOverhead(*table, space, input, o, 20);
//
// Each operator is built alone from the trainer's own modules (model_builder.h), in eval mode
// and the default memory layout, as MeasureLatency() times a whole network, and timed on one
// input at batch 1. The table keeps the mean of the middle 80% of the runs (outliers from
// preemption dropped) and their variance.
#ifndef NAS_TRAINER_OPERATOR_PROFILER_H_
#define NAS_TRAINER_OPERATOR_PROFILER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "search/cost_model.h"
#include "search/latency_table.h"
#include "search/search_space.h"

namespace nas {

struct ProfilerOptions {
  int threads = 1;
  int warmup = 10;
  int runs = 30;
};

// Timing: the trimmed mean and variance of one operator's runs, milliseconds.
struct Timing {
  double mean_ms = 0;
  double variance_ms2 = 0;
  int runs = 0;
};

// TimeOperator() builds `op` alone and times it.
Timing TimeOperator(const LatencyOp& op, const InputShape& input, const ProfilerOptions& options);

// TrimmedTiming() summarises raw run times (ms): the middle 80% of them.
Timing TrimmedTiming(std::vector<double> ms);

// ProfileOperators() times every operator of `ops` and returns a table without overhead (0).
// `on_progress(done, total)` is called after each operator. Sets torch's thread count.
absl::StatusOr<nas::v1::LatencyTable> ProfileOperators(
    const std::vector<LatencyOp>& ops, const InputShape& input, const ProfilerOptions& options,
    const std::function<void(int, int)>& on_progress);

// MeasureNetworkMs() builds `arch` and returns its median latency at batch 1 (MeasureLatency).
double MeasureNetworkMs(const nas::v1::Architecture& arch, const InputShape& input,
                        const ProfilerOptions& options);

// FitOverhead() returns the median, over `networks` random architectures of `space` (seeded),
// of measured latency minus the table's sum over their operators: the per-inference cost no
// single operator carries. The table must cover the space.
absl::StatusOr<double> FitOverhead(const nas::v1::LatencyTable& table, const SearchSpaceDef& space,
                                   const InputShape& input, const ProfilerOptions& options,
                                   int networks, uint64_t seed = 1);

// DeviceDescription() describes this machine for the table: CPU model and, where Linux shows
// it, the current frequency.
std::string DeviceDescription();

}  // namespace nas

#endif  // NAS_TRAINER_OPERATOR_PROFILER_H_
