#include "trainer/operator_profiler.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "trainer/model_builder.h"
#include "trainer/training.h"

namespace nas {
namespace {

namespace F = torch::nn::functional;

// One operator as a callable on its input tensor, with that input.
struct Runnable {
  std::function<torch::Tensor(const torch::Tensor&)> run;
  torch::Tensor input;
  std::shared_ptr<torch::nn::Module> module;  // keeps the weights alive
};

Runnable Build(const LatencyOp& op, const InputShape& input) {
  Runnable r;
  const int res = op.resolution;
  switch (op.kind) {
    case LatencyOp::Kind::kInput: {
      // What NetworkImpl::forward does before the stem: normalise, then resize if needed.
      torch::Tensor mean = torch::full({1, op.in, 1, 1}, 0.5f);
      torch::Tensor stddev = torch::full({1, op.in, 1, 1}, 0.25f);
      r.input = torch::rand({1, op.in, op.input_height, op.input_width});
      r.run = [mean, stddev, res](const torch::Tensor& images) {
        torch::Tensor x = (images - mean) / stddev;
        if (x.size(2) != res || x.size(3) != res) {
          x = F::interpolate(x, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{res, res})
                                    .mode(torch::kBilinear)
                                    .align_corners(false));
        }
        return x;
      };
      break;
    }
    case LatencyOp::Kind::kStem: {
      auto stem = std::make_shared<ConvBnImpl>(op.in, op.out, 3, 1, 1,
                                               op.relu ? Activation::kReLU : Activation::kReLU6);
      r.module = stem;
      r.input = torch::rand({1, op.in, res, res});
      r.run = [stem](const torch::Tensor& x) { return stem->forward(x); };
      break;
    }
    case LatencyOp::Kind::kHeadConv: {
      auto head = std::make_shared<ConvBnImpl>(op.in, op.out, 1, 1, 1, Activation::kReLU6);
      r.module = head;
      r.input = torch::rand({1, op.in, res, res});
      r.run = [head](const torch::Tensor& x) { return head->forward(x); };
      break;
    }
    case LatencyOp::Kind::kBlock: {
      auto block = std::make_shared<BlockImpl>(op.type, op.in, op.out, op.kernel, op.expansion,
                                               op.squeeze_excite, op.stride);
      r.module = block;
      r.input = torch::rand({1, op.in, res, res});
      r.run = [block](const torch::Tensor& x) { return block->forward(x); };
      break;
    }
    case LatencyOp::Kind::kHead: {
      auto classifier = std::make_shared<torch::nn::LinearImpl>(op.in, op.out);
      r.module = classifier;
      r.input = torch::rand({1, op.in, res, res});
      r.run = [classifier](const torch::Tensor& x) {
        return classifier->forward(
            F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1));
      };
      break;
    }
  }
  if (r.module) r.module->eval();
  return r;
}

}  // namespace

Timing TrimmedTiming(std::vector<double> ms) {
  Timing t;
  if (ms.empty()) return t;
  std::sort(ms.begin(), ms.end());
  const size_t cut = ms.size() / 10;
  const std::vector<double> kept(ms.begin() + cut, ms.end() - cut);
  double sum = 0;
  for (double v : kept) sum += v;
  t.mean_ms = sum / kept.size();
  double sq = 0;
  for (double v : kept) sq += (v - t.mean_ms) * (v - t.mean_ms);
  t.variance_ms2 = kept.size() > 1 ? sq / (kept.size() - 1) : 0;
  t.runs = static_cast<int>(ms.size());
  return t;
}

Timing TimeOperator(const LatencyOp& op, const InputShape& input, const ProfilerOptions& options) {
  torch::NoGradGuard no_grad;
  Runnable r = Build(op, input);
  for (int i = 0; i < options.warmup; ++i) r.run(r.input);
  std::vector<double> ms;
  ms.reserve(options.runs);
  for (int i = 0; i < options.runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    r.run(r.input);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return TrimmedTiming(std::move(ms));
}

absl::StatusOr<nas::v1::LatencyTable> ProfileOperators(
    const std::vector<LatencyOp>& ops, const InputShape& input, const ProfilerOptions& options,
    const std::function<void(int, int)>& on_progress) {
  if (options.threads < 1 || options.runs < 3 || options.warmup < 0) {
    return absl::InvalidArgumentError("profiler: threads >= 1, runs >= 3, warmup >= 0");
  }
  torch::set_num_threads(options.threads);
  nas::v1::LatencyTable table;
  table.set_threads(options.threads);
  table.set_device_description(DeviceDescription());
  const int total = static_cast<int>(ops.size());
  for (int i = 0; i < total; ++i) {
    const Timing t = TimeOperator(ops[i], input, options);
    nas::v1::LutEntry* e = table.add_entries();
    e->set_key(ops[i].Key());
    e->set_mean_ms(t.mean_ms);
    e->set_variance_ms2(t.variance_ms2);
    e->set_count(t.runs);
    if (on_progress) on_progress(i + 1, total);
  }
  return table;
}

double MeasureNetworkMs(const nas::v1::Architecture& arch, const InputShape& input,
                        const ProfilerOptions& options) {
  NetworkOptions no;
  no.in_channels = input.channels;
  no.classes = input.classes;
  no.input_height = input.height;
  no.input_width = input.width;
  no.mean.assign(input.channels, 0.5f);
  no.stddev.assign(input.channels, 0.25f);
  Network net = *BuildNetwork(arch, no);
  return MeasureLatency(net, {1, input.channels, input.height, input.width}, options.warmup,
                        options.runs)
      .median_ms;
}

absl::StatusOr<double> FitOverhead(const nas::v1::LatencyTable& table, const SearchSpaceDef& space,
                                   const InputShape& input, const ProfilerOptions& options,
                                   int networks, uint64_t seed) {
  nas::v1::LatencyTable without = table;
  without.set_overhead_ms(0);
  std::mt19937_64 rng(seed);
  std::vector<double> gaps;
  for (int i = 0; i < networks; ++i) {
    const nas::v1::Architecture arch = SampleArchitecture(space, rng);
    absl::StatusOr<double> predicted = PredictLatencyMs(without, arch, input);
    if (!predicted.ok()) return predicted.status();
    gaps.push_back(MeasureNetworkMs(arch, input, options) - *predicted);
  }
  if (gaps.empty()) return 0.0;
  std::sort(gaps.begin(), gaps.end());
  return gaps[gaps.size() / 2];
}

std::string DeviceDescription() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (absl::StartsWith(line, "model name")) {
      model = std::string(absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
      break;
    }
  }
  std::ifstream freq("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq");
  int64_t khz = 0;
  if (freq >> khz && khz > 0) absl::StrAppend(&model, ", ", khz / 1000, " MHz now");
  return model;
}

}  // namespace nas
