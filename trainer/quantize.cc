#include "trainer/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <type_traits>

namespace nas {
namespace {

constexpr int64_t kEvalBatch = 500;

// The convolutions' fp32 weights and biases in WalkGraph()'s order, the classifier last.
template <typename Graph>
auto Parameters(Graph& g) {
  using Tensor = std::conditional_t<std::is_const_v<Graph>, const torch::Tensor, torch::Tensor>;
  std::vector<std::pair<Tensor*, Tensor*>> out;
  for (auto& s : g.steps) {
    switch (s.kind) {
      case StepKind::kConv:
      case StepKind::kShortcut:
        out.push_back({&s.conv.weight, &s.conv.bias});
        break;
      case StepKind::kSqueezeExcite:
        out.push_back({&s.conv.weight, &s.conv.bias});
        out.push_back({&s.expand.weight, &s.expand.bias});
        break;
      case StepKind::kSaveResidual:
      case StepKind::kAddResidual:
        break;
    }
  }
  out.push_back({&g.classifier_weight, &g.classifier_bias});
  return out;
}

// Per-output-channel symmetric scale: the channel's largest magnitude maps to 127.
torch::Tensor WeightScale(const torch::Tensor& w) {
  torch::Tensor amax = w.detach().abs().flatten(1).amax(1);
  return torch::clamp_min(amax / 127.0f, 1e-8f).to(torch::kFloat32).contiguous();
}

WeightQuant QuantizeWeights(const torch::Tensor& w, const torch::Tensor& b, float input_scale) {
  torch::NoGradGuard no_grad;
  WeightQuant q;
  q.scale = WeightScale(w);
  std::vector<int64_t> shape(w.dim(), 1);
  shape[0] = -1;
  q.weight = torch::clamp(torch::round(w / q.scale.view(shape)), -127, 127).to(torch::kInt8);
  q.bias_scale = (q.scale * input_scale).contiguous();
  const double limit = std::numeric_limits<int32_t>::max();
  q.bias = torch::clamp(torch::round(b.to(torch::kFloat64) / q.bias_scale.to(torch::kFloat64)),
                        -limit, limit)
               .to(torch::kInt32);
  return q;
}

// Exactly ONNX's QuantizeLinear then DequantizeLinear: saturate(round(x / s) + z), then
// (q - z) * s, in float32 with round half to even.
torch::Tensor QuantDequant(const torch::Tensor& x, const ActivationQuant& a) {
  torch::Tensor q = torch::clamp(torch::round(x / a.scale) + a.zero_point, -128, 127);
  return (q - a.zero_point) * a.scale;
}

class Recorder : public TorchOps {
 public:
  explicit Recorder(int sites) : ranges(sites) {}
  torch::Tensor Quantize(torch::Tensor x, int site) override {
    ActivationRange& r = ranges[site];
    r.min = std::min(r.min, x.min().item<float>());
    r.max = std::max(r.max, x.max().item<float>());
    return x;
  }
  std::vector<ActivationRange> ranges;
};

// The int8 model as ONNX defines its QDQ form.
class Int8Ops : public TorchOps {
 public:
  explicit Int8Ops(const Int8Model& q) : q_(q) {}
  torch::Tensor Quantize(torch::Tensor x, int site) override {
    return QuantDequant(x, q_.activations[site]);
  }

 protected:
  std::pair<torch::Tensor, torch::Tensor> Weights(const torch::Tensor& w, const torch::Tensor& b,
                                                  int conv, int input_site) override {
    const WeightQuant& wq = q_.weights[conv];
    std::vector<int64_t> shape(w.dim(), 1);
    shape[0] = -1;
    return {wq.weight.to(torch::kFloat32) * wq.scale.view(shape),
            wq.bias.to(torch::kFloat32) * wq.bias_scale};
  }

 private:
  const Int8Model& q_;
};

// Quantization-aware training: the same quantizers, with straight-through gradients.
class FakeQuantOps : public TorchOps {
 public:
  explicit FakeQuantOps(const Int8Model& q) : q_(q) {}
  torch::Tensor Quantize(torch::Tensor x, int site) override {
    const ActivationQuant& a = q_.activations[site];
    return torch::fake_quantize_per_tensor_affine(x, a.scale, a.zero_point, -128, 127);
  }

 protected:
  std::pair<torch::Tensor, torch::Tensor> Weights(const torch::Tensor& w, const torch::Tensor& b,
                                                  int conv, int input_site) override {
    torch::Tensor scale = WeightScale(w);
    torch::Tensor zero = torch::zeros({w.size(0)}, torch::kInt32);
    return {torch::fake_quantize_per_channel_affine(w, scale, zero, 0, -127, 127), b};
  }

 private:
  const Int8Model& q_;
};

template <typename Run>
double Accuracy(const torch::Tensor& images, const torch::Tensor& labels, Run run) {
  torch::NoGradGuard no_grad;
  int64_t correct = 0;
  const int64_t n = images.size(0);
  for (int64_t first = 0; first < n; first += kEvalBatch) {
    const int64_t size = std::min<int64_t>(kEvalBatch, n - first);
    torch::Tensor x = ToFloatImages(images.narrow(0, first, size));
    correct += run(x).argmax(1).eq(labels.narrow(0, first, size)).sum().template item<int64_t>();
  }
  return n == 0 ? 0 : static_cast<double>(correct) / n;
}

}  // namespace

ActivationQuant ActivationQuantFor(ActivationRange range) {
  const float lo = std::min(0.0f, range.min);
  const float hi = std::max(0.0f, range.max);
  ActivationQuant a;
  a.scale = hi > lo ? (hi - lo) / 255.0f : 1.0f;
  a.zero_point =
      static_cast<int32_t>(std::clamp(std::nearbyint(-128.0f - lo / a.scale), -128.0f, 127.0f));
  return a;
}

std::vector<ActivationRange> CalibrateRanges(const DeployGraph& g, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  Recorder recorder(CountSites(g).sites);
  for (int64_t first = 0; first < images.size(0); first += kEvalBatch) {
    const int64_t size = std::min<int64_t>(kEvalBatch, images.size(0) - first);
    WalkGraph(g, recorder, ToFloatImages(images.narrow(0, first, size)));
  }
  return recorder.ranges;
}

Int8Model QuantizeGraph(const DeployGraph& g, const std::vector<ActivationRange>& ranges) {
  std::vector<ActivationQuant> activations;
  for (const ActivationRange& r : ranges) activations.push_back(ActivationQuantFor(r));
  return QuantizeWithActivations(g, std::move(activations));
}

Int8Model QuantizeWithActivations(const DeployGraph& g, std::vector<ActivationQuant> activations) {
  Int8Model q;
  q.activations = std::move(activations);
  // Each convolution's input site, by walking the graph once.
  struct InputSites : TorchOps {
    std::vector<int> sites;
    torch::Tensor Quantize(torch::Tensor x, int) override { return x; }

   protected:
    std::pair<torch::Tensor, torch::Tensor> Weights(const torch::Tensor& w, const torch::Tensor& b,
                                                    int conv, int input_site) override {
      if (static_cast<int>(sites.size()) <= conv) sites.resize(conv + 1);
      sites[conv] = input_site;
      return {w, b};
    }
  } walk;
  {
    torch::NoGradGuard no_grad;
    WalkGraph(g, walk, torch::zeros({1, g.channels, g.height, g.width}));
  }
  auto params = Parameters(g);
  for (size_t i = 0; i < params.size(); ++i) {
    q.weights.push_back(
        QuantizeWeights(*params[i].first, *params[i].second, q.activations[walk.sites[i]].scale));
  }
  return q;
}

torch::Tensor RunInt8(const DeployGraph& g, const Int8Model& q, const torch::Tensor& images) {
  Int8Ops ops(q);
  return WalkGraph(g, ops, images);
}

double EvaluateInt8(const DeployGraph& g, const Int8Model& q, const torch::Tensor& images,
                    const torch::Tensor& labels) {
  return Accuracy(images, labels, [&](const torch::Tensor& x) { return RunInt8(g, q, x); });
}

double EvaluateFloat(const DeployGraph& g, const torch::Tensor& images,
                     const torch::Tensor& labels) {
  return Accuracy(images, labels, [&](const torch::Tensor& x) { return RunFloat(g, x); });
}

torch::Tensor CalibrationImages(const TensorData& data, int n, uint64_t seed) {
  const int64_t available = data.train_images.size(0);
  std::vector<int64_t> order(available);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  order.resize(std::min<int64_t>(n, available));
  return data.train_images.index_select(0, torch::tensor(order, torch::kInt64));
}

absl::StatusOr<TrainResult> FineTuneInt8(DeployGraph& g, Int8Model& q, const TensorData& data,
                                         const nas::v1::TrainingRecipe& recipe, int epochs,
                                         const ProgressCallback& on_progress) {
  auto params = Parameters(g);
  std::vector<torch::Tensor> trainable;
  for (auto& [w, b] : params) {
    *w = w->detach().clone().set_requires_grad(true);
    *b = b->detach().clone().set_requires_grad(true);
    trainable.push_back(*w);
    trainable.push_back(*b);
  }
  nas::v1::TrainingRecipe tuned = recipe;
  tuned.set_learning_rate(PeakLearningRate(recipe) / 10);
  tuned.set_epochs(epochs);
  std::unique_ptr<torch::optim::Optimizer> optimizer = MakeOptimizer(trainable, tuned);
  std::mt19937_64 rng(recipe.seed() + 8);
  const int64_t examples = TrainingExamples(data.train_images.size(0), tuned, nas::v1::Fidelity());
  FakeQuantOps ops(q);
  absl::StatusOr<TrainResult> result = RunTrainingLoop(
      data, tuned, examples, EpochRange{1, epochs, epochs}, rng, *optimizer,
      [&](const torch::Tensor& x, const torch::Tensor& y) {
        torch::Tensor loss = ClassificationLoss(WalkGraph(g, ops, x.contiguous()), y, tuned);
        loss.backward();
        return loss.item<double>();
      },
      on_progress);
  for (auto& [w, b] : params) {
    *w = w->detach();
    *b = b->detach();
  }
  if (!result.ok()) return result.status();
  // Quantize the fine-tuned weights again, at the calibrated activation scales.
  const int calibration = q.calibration_images;
  q = QuantizeWithActivations(g, q.activations);
  q.calibration_images = calibration;
  q.fine_tuned = true;
  return result;
}

nas::v1::QuantizationInfo QuantizationInfoOf(const Int8Model& q) {
  nas::v1::QuantizationInfo info;
  info.set_calibration("minmax");
  info.set_calibration_images(q.calibration_images);
  for (const ActivationQuant& a : q.activations) {
    info.add_activation_scales(a.scale);
    info.add_activation_zero_points(a.zero_point);
  }
  info.set_fine_tuned(q.fine_tuned);
  return info;
}

}  // namespace nas
