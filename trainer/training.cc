#include "trainer/training.h"

#include <ATen/autocast_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

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
  return torch::tensor(set.labels, torch::kInt64)
      .index_select(0, torch::tensor(index, torch::kInt64));
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

// Turns CPU autocast to bf16 on for its lifetime, restoring what was there (a supernet's
// forward may run inside another guard) and clearing the cast-weight cache at the outermost
// exit, as torch.autocast's __exit__ does.
class Bf16Autocast {
 public:
  Bf16Autocast()
      : was_enabled_(at::autocast::is_cpu_enabled()),
        was_dtype_(at::autocast::get_autocast_cpu_dtype()) {
    at::autocast::set_cpu_enabled(true);
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Bf16Autocast() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(was_dtype_);
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  const bool was_enabled_;
  const at::ScalarType was_dtype_;
};

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

double LearningRateAt(const nas::v1::TrainingRecipe& recipe, int64_t step, int64_t total_steps) {
  const double peak = PeakLearningRate(recipe);
  const double t = total_steps > 0 ? static_cast<double>(step) / total_steps : 0;
  // From `from` at u = 0 to `to` at u = 1 along half a cosine.
  auto cosine = [](double from, double to, double u) {
    return to + (from - to) * 0.5 * (1 + std::cos(M_PI * std::clamp(u, 0.0, 1.0)));
  };
  switch (recipe.schedule()) {
    case nas::v1::LR_SCHEDULE_STEP:
      return peak * (t < 0.5 ? 1.0 : t < 0.75 ? 0.1 : 0.01);
    case nas::v1::LR_SCHEDULE_ONE_CYCLE: {
      // PyTorch's OneCycleLR defaults: start at peak / 25, end at start / 1e4, cosine phases.
      const double warm = recipe.warmup_fraction() > 0 ? recipe.warmup_fraction() : 0.25;
      const double start = peak / 25, end = start / 1e4;
      return t < warm ? cosine(start, peak, t / warm) : cosine(peak, end, (t - warm) / (1 - warm));
    }
    case nas::v1::LR_SCHEDULE_COSINE_WARMUP: {
      const double warm = recipe.warmup_fraction() > 0 ? recipe.warmup_fraction() : 0.05;
      // Linear from peak / steps-of-warm-up (never 0: a first step of rate 0 is wasted).
      if (t < warm) return peak * (step + 1) / std::max(1.0, warm * total_steps);
      return cosine(peak, 0, (t - warm) / (1 - warm));
    }
    default:
      return cosine(peak, 0, t);
  }
}

torch::Tensor ForwardInPrecision(Precision precision,
                                 const std::function<torch::Tensor()>& forward) {
  if (precision == Precision::kFp32) return forward();
  torch::Tensor out;
  {
    Bf16Autocast autocast;
    out = forward();
  }
  return out.to(torch::kFloat32);
}

torch::Tensor ClassificationLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                                 const nas::v1::TrainingRecipe& recipe) {
  return torch::nn::functional::cross_entropy(
      logits, labels,
      torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(recipe.label_smoothing()));
}

absl::StatusOr<TrainResult> RunTrainingLoop(const TensorData& data,
                                            const nas::v1::TrainingRecipe& recipe, int64_t examples,
                                            EpochRange epochs, std::mt19937_64& rng,
                                            torch::optim::Optimizer& optimizer,
                                            const TrainStep& step_fn,
                                            const ProgressCallback& on_progress,
                                            const std::function<void(int epoch)>& on_epoch_end) {
  const int batch = recipe.batch_size() > 0 ? recipe.batch_size() : 128;
  const int64_t n = examples;
  const int64_t steps_per_epoch = (n + batch - 1) / batch;
  const int64_t total_steps = steps_per_epoch * epochs.total;
  auto lr_at = [&](int64_t step) { return LearningRateAt(recipe, step, total_steps); };
  std::vector<int64_t> order(data.train_images.size(0));

  TrainResult result;
  const auto start = std::chrono::steady_clock::now();
  int64_t step = steps_per_epoch * (epochs.first - 1);
  try {
    for (int epoch = epochs.first; epoch <= epochs.last; ++epoch) {
      // Each epoch's order from the generator alone (not from the last epoch's order), so that
      // a training resumed from a checkpoint, which restores the generator, goes on alike.
      std::iota(order.begin(), order.end(), 0);
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
        TrainProgress p{epoch, epochs.total, loss_sum / seen,
                        result.samples / std::max(secs, 1e-9)};
        result.final_loss = p.loss;
        if (on_progress && !on_progress(p)) {
          result.stopped = true;
          break;
        }
      }
      if (result.stopped) break;
      if (on_epoch_end) on_epoch_end(epoch);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("training failed: ", e.what_without_backtrace()));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.samples_per_second = result.samples / std::max(result.seconds, 1e-9);
  return result;
}

namespace {

constexpr char kCheckpointVersion[] = "nas-training-checkpoint-1";

std::string SaveTrainingState(Network& net, torch::optim::Optimizer& optimizer,
                              const std::mt19937_64& rng, int epochs_done,
                              const std::string& identity) {
  torch::serialize::OutputArchive archive, model, optimizer_state;
  net->save(model);
  optimizer.save(optimizer_state);
  archive.write("model", model);
  archive.write("optimizer", optimizer_state);
  std::ostringstream generator;
  generator << rng;
  archive.write("version", c10::IValue(std::string(kCheckpointVersion)));
  archive.write("identity", c10::IValue(identity));
  archive.write("epochs", c10::IValue(static_cast<int64_t>(epochs_done)));
  archive.write("generator", c10::IValue(generator.str()));
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

// Restores what SaveTrainingState() wrote into `net`, `optimizer` and `rng`, returning the
// epochs done; nothing is changed when the checkpoint is another training's or unreadable.
absl::StatusOr<int> LoadTrainingState(const std::string& bytes, const std::string& identity,
                                      int epochs, Network& net, torch::optim::Optimizer& optimizer,
                                      std::mt19937_64& rng) {
  try {
    torch::serialize::InputArchive archive;
    std::istringstream in(bytes);
    archive.load_from(in);
    c10::IValue version, id, done, generator;
    archive.read("version", version);
    archive.read("identity", id);
    archive.read("epochs", done);
    archive.read("generator", generator);
    if (!version.isString() || version.toStringRef() != kCheckpointVersion) {
      return absl::FailedPreconditionError("checkpoint: not a training checkpoint of this version");
    }
    if (!id.isString() || id.toStringRef() != identity) {
      return absl::FailedPreconditionError(
          "checkpoint: of another training (search, candidate, architecture, recipe or "
          "fidelity); refused");
    }
    const int64_t epochs_done = done.isInt() ? done.toInt() : -1;
    if (epochs_done < 1 || epochs_done >= epochs) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint: holds ", epochs_done, " epochs of a training of ", epochs));
    }
    std::mt19937_64 restored;
    std::istringstream g(generator.isString() ? generator.toStringRef() : std::string());
    g >> restored;
    if (g.fail()) return absl::FailedPreconditionError("checkpoint: unreadable data order");
    torch::serialize::InputArchive model, optimizer_state;
    archive.read("model", model);
    archive.read("optimizer", optimizer_state);
    net->load(model);
    optimizer.load(optimizer_state);
    rng = restored;
    return static_cast<int>(epochs_done);
  } catch (const c10::Error& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint: unreadable: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint: unreadable: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<TrainResult> Train(Network& net, const TensorData& data,
                                  const nas::v1::TrainingRecipe& recipe,
                                  const nas::v1::Fidelity& fidelity,
                                  const ProgressCallback& on_progress) {
  return Train(net, data, recipe, fidelity, on_progress, TrainingCheckpoints());
}

absl::StatusOr<TrainResult> Train(Network& net, const TensorData& data,
                                  const nas::v1::TrainingRecipe& recipe,
                                  const nas::v1::Fidelity& fidelity,
                                  const ProgressCallback& on_progress,
                                  const TrainingCheckpoints& checkpoints) {
  const int epochs = fidelity.epochs() > 0 ? fidelity.epochs() : recipe.epochs();
  if (epochs <= 0) return absl::InvalidArgumentError("recipe.epochs: must be positive");
  const int64_t n = TrainingExamples(data.train_images.size(0), recipe, fidelity);

  std::unique_ptr<torch::optim::Optimizer> optimizer = MakeOptimizer(net->parameters(), recipe);
  std::mt19937_64 rng(recipe.seed());
  int done = 0;
  if (!checkpoints.resume_from.empty()) {
    absl::StatusOr<int> restored = LoadTrainingState(checkpoints.resume_from, checkpoints.identity,
                                                     epochs, net, *optimizer, rng);
    if (!restored.ok()) return restored.status();
    done = *restored;
  }
  // Channels-last trains 1.2 to 1.4x faster here than the default layout (docs/benchmarks.md);
  // the network goes back to the default layout when training ends.
  SetMemoryFormat(*net, torch::MemoryFormat::ChannelsLast);
  struct RestoreLayout {
    Network& net;
    ~RestoreLayout() { SetMemoryFormat(*net, torch::MemoryFormat::Contiguous); }
  } restore_layout{net};
  const Precision precision =
      ResolvePrecision(recipe.precision(), net->macs(), net->macs_per_output_element());
  net->train();
  std::function<void(int)> on_epoch_end;
  if (checkpoints.save) {
    on_epoch_end = [&](int epoch) {
      if (epoch < epochs) {
        checkpoints.save(epoch,
                         SaveTrainingState(net, *optimizer, rng, epoch, checkpoints.identity));
      }
    };
  }
  absl::StatusOr<TrainResult> result = RunTrainingLoop(
      data, recipe, n, EpochRange{done + 1, epochs, epochs}, rng, *optimizer,
      [&](const torch::Tensor& x, const torch::Tensor& y) {
        torch::Tensor logits = ForwardInPrecision(precision, [&] { return net->forward(x); });
        torch::Tensor loss = ClassificationLoss(logits, y, recipe);
        loss.backward();
        return loss.item<double>();
      },
      on_progress, on_epoch_end);
  if (result.ok()) {
    result->precision = precision;
    result->resumed_epochs = done;
  }
  return result;
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

void RecalibrateBatchNorm(Network& net, const torch::Tensor& images, int batches, int batch_size,
                          uint64_t seed) {
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

LatencyStats MeasureLatency(Network& net, const std::vector<int64_t>& shape, int warmup, int runs) {
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
