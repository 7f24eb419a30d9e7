#include "trainer/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/str_cat.h"

namespace nas {
namespace {

// The examples of `set` at `index`, in that order; an empty index is no example (a split that
// took every example once came back as "all of them" here, and candidates were validated on
// what they trained on).
torch::Tensor Images(const ImageSet& set, const std::vector<int64_t>& index, int c, int h, int w) {
  torch::Tensor all = torch::from_blob(const_cast<uint8_t*>(set.pixels.data()),
                                       {set.count, c, h, w}, torch::kUInt8);
  return all.index_select(0, torch::tensor(index, torch::kInt64));
}

torch::Tensor Labels(const ImageSet& set, const std::vector<int64_t>& index) {
  return torch::tensor(set.labels, torch::kInt64).index_select(0, torch::tensor(index, torch::kInt64));
}

std::vector<int64_t> Every(int64_t count) {
  std::vector<int64_t> index(count);
  std::iota(index.begin(), index.end(), 0);
  return index;
}

torch::Tensor ToFloat(const torch::Tensor& images) { return images.to(torch::kFloat32).div_(255); }

// Random crop with 4 pixels of zero padding, and an optional horizontal flip, per example, on
// the raw bytes in one pass (per-example tensor ops cost more than the copy itself).
torch::Tensor Augment(const torch::Tensor& x, bool crop, bool flip, std::mt19937_64& rng) {
  if (!crop && !flip) return x;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  torch::Tensor in = x.contiguous();
  torch::Tensor out = torch::empty_like(in);
  const uint8_t* src = in.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  std::uniform_int_distribution<int64_t> offset(-4, 4);
  std::bernoulli_distribution coin(0.5);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t dy = crop ? offset(rng) : 0;
    const int64_t dx = crop ? offset(rng) : 0;
    const bool mirror = flip && coin(rng);
    for (int64_t ch = 0; ch < c; ++ch) {
      const uint8_t* plane = src + (i * c + ch) * h * w;
      uint8_t* target = dst + (i * c + ch) * h * w;
      for (int64_t y = 0; y < h; ++y) {
        const int64_t sy = y + dy;
        for (int64_t col = 0; col < w; ++col) {
          const int64_t sx = (mirror ? w - 1 - col : col) + dx;
          target[y * w + col] =
              (sy >= 0 && sy < h && sx >= 0 && sx < w) ? plane[sy * w + sx] : uint8_t{0};
        }
      }
    }
  }
  return out;
}

}  // namespace

TensorData MakeTensorData(const ImageDataset& data, const DatasetSplit& split) {
  TensorData t;
  const int c = data.channels, h = data.height, w = data.width;
  t.train_images = Images(data.train, split.train, c, h, w);
  t.train_labels = Labels(data.train, split.train);
  t.val_images = Images(data.train, split.validation, c, h, w);
  t.val_labels = Labels(data.train, split.validation);
  t.test_images = Images(data.test, Every(data.test.count), c, h, w);
  t.test_labels = Labels(data.test, Every(data.test.count));
  return t;
}

int64_t TrainingExamples(int64_t available, const nas::v1::TrainingRecipe& recipe,
                         const nas::v1::Fidelity& fidelity) {
  int64_t n = available;
  const int subset = fidelity.train_subset() > 0 ? fidelity.train_subset() : recipe.train_subset();
  if (subset > 0) n = std::min<int64_t>(n, subset);
  const double fraction = fidelity.train_fraction();
  if (fraction > 0 && fraction < 1) {
    const int64_t batch = recipe.batch_size() > 0 ? recipe.batch_size() : 128;
    n = std::max<int64_t>(std::min(n, batch), std::llround(static_cast<double>(n) * fraction));
  }
  return n;
}

torch::Tensor ToFloatImages(const torch::Tensor& images) { return ToFloat(images); }

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(std::vector<torch::Tensor> parameters,
                                                       const nas::v1::TrainingRecipe& recipe) {
  const bool sgd = recipe.optimizer() != nas::v1::OPTIMIZER_ADAMW;
  const double wd = recipe.weight_decay() > 0 ? recipe.weight_decay() : (sgd ? 5e-4 : 0.05);
  const double lr0 = PeakLearningRate(recipe);
  if (sgd) {
    return std::make_unique<torch::optim::SGD>(
        std::move(parameters),
        torch::optim::SGDOptions(lr0).momentum(0.9).nesterov(true).weight_decay(wd));
  }
  return std::make_unique<torch::optim::AdamW>(std::move(parameters),
                                               torch::optim::AdamWOptions(lr0).weight_decay(wd));
}

double PeakLearningRate(const nas::v1::TrainingRecipe& recipe) {
  if (recipe.learning_rate() > 0) return recipe.learning_rate();
  return recipe.optimizer() != nas::v1::OPTIMIZER_ADAMW ? 0.05 : 0.002;
}

torch::Tensor ClassificationLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                                 const nas::v1::TrainingRecipe& recipe) {
  return torch::nn::functional::cross_entropy(
      logits, labels,
      torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(recipe.label_smoothing()));
}

absl::StatusOr<TrainResult> RunTrainingLoop(const TensorData& data,
                                            const nas::v1::TrainingRecipe& recipe,
                                            int64_t examples, EpochRange epochs,
                                            std::mt19937_64& rng,
                                            torch::optim::Optimizer& optimizer,
                                            const TrainStep& step_fn,
                                            const ProgressCallback& on_progress) {
  const int batch = recipe.batch_size() > 0 ? recipe.batch_size() : 128;
  const int64_t n = examples;
  const double lr0 = PeakLearningRate(recipe);
  const int64_t steps_per_epoch = (n + batch - 1) / batch;
  const int64_t total_steps = steps_per_epoch * epochs.total;
  const bool step_schedule = recipe.schedule() == nas::v1::LR_SCHEDULE_STEP;
  auto lr_at = [&](int64_t step) {
    const double t = static_cast<double>(step) / total_steps;
    if (step_schedule) return lr0 * (t < 0.5 ? 1.0 : t < 0.75 ? 0.1 : 0.01);
    return lr0 * 0.5 * (1 + std::cos(M_PI * t));
  };
  std::vector<int64_t> order(data.train_images.size(0));
  std::iota(order.begin(), order.end(), 0);

  TrainResult result;
  const auto start = std::chrono::steady_clock::now();
  int64_t step = steps_per_epoch * (epochs.first - 1);
  try {
    for (int epoch = epochs.first; epoch <= epochs.last; ++epoch) {
      std::shuffle(order.begin(), order.end(), rng);
      double loss_sum = 0;
      int64_t seen = 0;
      for (int64_t first = 0; first < n; first += batch) {
        const int64_t size = std::min<int64_t>(batch, n - first);
        torch::Tensor index = torch::from_blob(order.data() + first, {size}, torch::kInt64);
        torch::Tensor x = ToFloat(Augment(data.train_images.index_select(0, index),
                                          recipe.augment_crop(), recipe.augment_flip(), rng))
                              .contiguous(torch::MemoryFormat::ChannelsLast);
        torch::Tensor y = data.train_labels.index_select(0, index);
        for (auto& group : optimizer.param_groups()) {
          group.options().set_lr(lr_at(step));
        }
        optimizer.zero_grad();
        const double loss = step_fn(x, y);
        optimizer.step();
        ++step;
        loss_sum += loss * size;
        seen += size;
        result.samples += size;
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        TrainProgress p{epoch, epochs.total, loss_sum / seen, result.samples / std::max(secs, 1e-9)};
        result.final_loss = p.loss;
        if (on_progress && !on_progress(p)) {
          result.stopped = true;
          break;
        }
      }
      if (result.stopped) break;
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("training failed: ", e.what_without_backtrace()));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.samples_per_second = result.samples / std::max(result.seconds, 1e-9);
  return result;
}

absl::StatusOr<TrainResult> Train(Network& net, const TensorData& data,
                                  const nas::v1::TrainingRecipe& recipe,
                                  const nas::v1::Fidelity& fidelity,
                                  const ProgressCallback& on_progress) {
  const int epochs = fidelity.epochs() > 0 ? fidelity.epochs() : recipe.epochs();
  if (epochs <= 0) return absl::InvalidArgumentError("recipe.epochs: must be positive");
  const int64_t n = TrainingExamples(data.train_images.size(0), recipe, fidelity);

  // Channels-last trains 1.2 to 1.4x faster here than the default layout (docs/benchmarks.md);
  // the network goes back to the default layout when training ends.
  SetMemoryFormat(*net, torch::MemoryFormat::ChannelsLast);
  struct RestoreLayout {
    Network& net;
    ~RestoreLayout() { SetMemoryFormat(*net, torch::MemoryFormat::Contiguous); }
  } restore_layout{net};
  std::unique_ptr<torch::optim::Optimizer> optimizer = MakeOptimizer(net->parameters(), recipe);
  std::mt19937_64 rng(recipe.seed());
  net->train();
  return RunTrainingLoop(
      data, recipe, n, EpochRange{1, epochs, epochs}, rng, *optimizer,
      [&](const torch::Tensor& x, const torch::Tensor& y) {
        torch::Tensor loss = ClassificationLoss(net->forward(x), y, recipe);
        loss.backward();
        return loss.item<double>();
      },
      on_progress);
}

double Evaluate(Network& net, const torch::Tensor& images, const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  net->eval();
  // Channels-last here too: 1.7x faster inference of a MobileNetV2 at batch 500 here.
  SetMemoryFormat(*net, torch::MemoryFormat::ChannelsLast);
  int64_t correct = 0;
  const int64_t n = images.size(0);
  for (int64_t first = 0; first < n; first += 500) {
    const int64_t size = std::min<int64_t>(500, n - first);
    torch::Tensor logits = net->forward(
        ToFloat(images.narrow(0, first, size)).contiguous(torch::MemoryFormat::ChannelsLast));
    correct += logits.argmax(1).eq(labels.narrow(0, first, size)).sum().item<int64_t>();
  }
  SetMemoryFormat(*net, torch::MemoryFormat::Contiguous);
  return n == 0 ? 0 : static_cast<double>(correct) / n;
}

void RecalibrateBatchNorm(Network& net, const torch::Tensor& images, int batches,
                          int batch_size, uint64_t seed) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<torch::nn::BatchNorm2dImpl*, c10::optional<double>>> norms;
  for (const std::shared_ptr<torch::nn::Module>& m : net->modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->reset_running_stats();
      norms.push_back({bn, bn->options.momentum()});
      bn->options.momentum(c10::nullopt);  // a plain average over the batches
    }
  }
  net->train();
  const int64_t n = images.size(0);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> pick(0, n - 1);
  for (int b = 0; b < batches; ++b) {
    std::vector<int64_t> index(std::min<int64_t>(batch_size, n));
    for (int64_t& i : index) i = pick(rng);
    net->forward(ToFloat(images.index_select(0, torch::tensor(index, torch::kInt64))));
  }
  for (auto& [bn, momentum] : norms) bn->options.momentum(momentum);
  net->eval();
}

namespace {

// Times `runs` more inferences of `x`, appending each in ms.
void TimeRuns(Network& net, const torch::Tensor& x, int runs, std::vector<double>* ms) {
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    net->forward(x);
    ms->push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
}

LatencyStats Summarise(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  LatencyStats s;
  s.runs = static_cast<int>(ms.size());
  s.threads = torch::get_num_threads();
  s.median_ms = ms[ms.size() / 2];
  s.iqr_ms = ms[ms.size() * 3 / 4] - ms[ms.size() / 4];
  s.ci_ms = MedianCiHalfWidth(ms);
  return s;
}

}  // namespace

double MedianCiHalfWidth(const std::vector<double>& sorted_ms) {
  const double n = static_cast<double>(sorted_ms.size());
  if (n < 2) return 0;
  const double spread = 1.96 * std::sqrt(n) / 2;
  const int lo = std::max(0, static_cast<int>(std::floor(n / 2 - spread)));
  const int hi = std::min(static_cast<int>(n) - 1, static_cast<int>(std::ceil(n / 2 + spread)));
  return (sorted_ms[hi] - sorted_ms[lo]) / 2;
}

LatencyStats MeasureLatency(Network& net, const std::vector<int64_t>& shape, int warmup,
                            int runs) {
  torch::NoGradGuard no_grad;
  net->eval();
  torch::Tensor x = torch::rand(shape);
  for (int i = 0; i < warmup; ++i) net->forward(x);
  std::vector<double> ms;
  TimeRuns(net, x, runs, &ms);
  return Summarise(std::move(ms));
}

LatencyStats MeasureLatencyUntilSettled(Network& net, const std::vector<int64_t>& shape,
                                        const LatencyPrecision& precision, int warmup) {
  torch::NoGradGuard no_grad;
  net->eval();
  torch::Tensor x = torch::rand(shape);
  for (int i = 0; i < warmup; ++i) net->forward(x);
  const int round = std::max(1, precision.min_runs);
  const auto start = std::chrono::steady_clock::now();
  std::vector<double> ms;
  while (true) {
    TimeRuns(net, x, round, &ms);
    LatencyStats s = Summarise(ms);
    s.settled = s.ci_ms <= precision.relative_ci * s.median_ms;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (s.settled || s.runs + round > precision.max_runs || seconds >= precision.max_seconds) {
      return s;
    }
  }
}

}  // namespace nas
