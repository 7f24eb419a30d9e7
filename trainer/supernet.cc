#include "trainer/supernet.h"

#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace nas {
namespace {

namespace F = torch::nn::functional;

// The leading `out` x `in` channels of a convolution's weight, its kernel cropped to `kernel`
// around the centre.
torch::Tensor SliceWeight(const torch::Tensor& weight, int64_t out, int64_t in, int64_t kernel) {
  const int64_t offset = (weight.size(2) - kernel) / 2;
  return weight.narrow(0, 0, out)
      .narrow(1, 0, in)
      .narrow(2, offset, kernel)
      .narrow(3, offset, kernel);
}

torch::Tensor Leading(const torch::Tensor& t, int64_t n) {
  return t.defined() ? t.narrow(0, 0, n) : t;
}

// Runs a ConvBn unit of the supernet on `x` with `out` output channels and a `kernel` kernel;
// a depthwise unit has as many groups as channels.
torch::Tensor RunConvBn(ConvBnImpl& unit, const torch::Tensor& x, int64_t out, int64_t kernel,
                        int64_t stride, bool depthwise, bool training) {
  const torch::Tensor weight =
      SliceWeight(unit.conv->weight, out, depthwise ? 1 : x.size(1), kernel);
  torch::Tensor y = torch::conv2d(x, weight, {}, {stride, stride}, {kernel / 2, kernel / 2}, {1, 1},
                                  depthwise ? out : 1);
  torch::nn::BatchNorm2dImpl& bn = *unit.bn;
  y = torch::batch_norm(y, Leading(bn.weight, out), Leading(bn.bias, out),
                        Leading(bn.running_mean, out), Leading(bn.running_var, out), training,
                        bn.options.momentum().value_or(0.1), bn.options.eps(),
                        /*cudnn_enabled=*/false);
  return Activate(y, unit.activation);
}

// Runs block `supernet_block` as the subnet's block `block` with `out` output channels.
torch::Tensor RunBlock(BlockImpl& supernet_block, const torch::Tensor& x,
                       const nas::v1::Block& block, int64_t out, int64_t stride, bool training) {
  const MobileLayers layers = MobileBlockLayers(supernet_block);
  const int64_t in = x.size(1);
  const int64_t hidden = in * block.expansion();
  torch::Tensor y = x;
  if (block.expansion() != 1) y = RunConvBn(*layers.expand, y, hidden, 1, 1, false, training);
  y = RunConvBn(*layers.depthwise, y, hidden, block.kernel(), stride, true, training);
  if (block.squeeze_excite()) {
    const SqueezeExciteImpl& se = *layers.se;
    const int64_t reduced = SqueezeExciteChannels(static_cast<int>(hidden));
    y = SqueezeExciteGate(
        y, SliceWeight(se.reduce->weight, reduced, hidden, 1), Leading(se.reduce->bias, reduced),
        SliceWeight(se.expand->weight, hidden, reduced, 1), Leading(se.expand->bias, hidden));
  }
  y = RunConvBn(*layers.project, y, out, 1, 1, false, training);
  return stride == 1 && in == out ? y + x : y;
}

}  // namespace

SupernetImpl::SupernetImpl(const nas::v1::Architecture& largest, const NetworkOptions& options) {
  net = register_module("net", Network(largest, options));
}

absl::Status SupernetImpl::Fits(const nas::v1::Architecture& subnet) const {
  const nas::v1::Architecture& big = net->architecture();
  auto too_large = [](const std::string& field, int got, int most) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture.", field, ": ", got, " is larger than the supernet's ", most));
  };
  if (subnet.space() != big.space()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture.space: \"", subnet.space(), "\"; the supernet covers \"", big.space(), "\""));
  }
  NAS_RETURN_IF_ERROR(ValidateForBuild(subnet));
  if (subnet.head_width() > big.head_width()) {
    return too_large("head_width", subnet.head_width(), big.head_width());
  }
  if (subnet.stem_width() > big.stem_width()) {
    return too_large("stem_width", subnet.stem_width(), big.stem_width());
  }
  if (subnet.stages_size() != big.stages_size()) {
    return absl::InvalidArgumentError(absl::StrCat("architecture.stages: ", subnet.stages_size(),
                                                   " stages; the supernet has ",
                                                   big.stages_size()));
  }
  for (int s = 0; s < subnet.stages_size(); ++s) {
    const nas::v1::Stage &stage = subnet.stages(s), &super = big.stages(s);
    const std::string at = absl::StrCat("stages[", s, "]");
    if (stage.width() > super.width())
      return too_large(at + ".width", stage.width(), super.width());
    if (StageStride(subnet, s) != StageStride(big, s)) {
      return absl::InvalidArgumentError(absl::StrCat("architecture.", at,
                                                     ".stride: ", StageStride(subnet, s),
                                                     "; the supernet's is ", StageStride(big, s)));
    }
    if (stage.blocks_size() > super.blocks_size()) {
      return too_large(at + ".blocks (depth)", stage.blocks_size(), super.blocks_size());
    }
    for (int b = 0; b < stage.blocks_size(); ++b) {
      const nas::v1::Block &block = stage.blocks(b), &most = super.blocks(b);
      const std::string bat = absl::StrCat(at, ".blocks[", b, "]");
      if (BlockTypeOf(subnet, block) != nas::v1::INVERTED_RESIDUAL) {
        return absl::InvalidArgumentError(
            absl::StrCat("architecture.", bat, ".type: supernets hold inverted residuals only"));
      }
      if (block.kernel() > most.kernel()) {
        return too_large(bat + ".kernel", block.kernel(), most.kernel());
      }
      if (block.expansion() > most.expansion()) {
        return too_large(bat + ".expansion", block.expansion(), most.expansion());
      }
      if (block.squeeze_excite() && !most.squeeze_excite()) {
        return absl::InvalidArgumentError(
            absl::StrCat("architecture.", bat, ".squeeze_excite: the supernet has none there"));
      }
    }
  }
  return absl::OkStatus();
}

torch::Tensor SupernetImpl::forward(torch::Tensor images, const nas::v1::Architecture& subnet) {
  const bool training = is_training();
  torch::Tensor x = NormaliseAndResize(images, net->mean, net->stddev, subnet.resolution());
  x = RunConvBn(*net->stem, x, subnet.stem_width(), 3, 1, false, training);
  int first = 0;
  for (int s = 0; s < subnet.stages_size(); ++s) {
    const nas::v1::Stage& stage = subnet.stages(s);
    for (int b = 0; b < stage.blocks_size(); ++b) {
      x = RunBlock(*net->blocks[first + b]->as<BlockImpl>(), x, stage.blocks(b), stage.width(),
                   b == 0 ? StageStride(subnet, s) : 1, training);
    }
    first += net->architecture().stages(s).blocks_size();
  }
  if (subnet.head_width() > 0) {
    x = RunConvBn(*net->head, x, subnet.head_width(), 1, 1, false, training);
  }
  x = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  return torch::linear(x, net->classifier->weight.narrow(1, 0, x.size(1)), net->classifier->bias);
}

absl::StatusOr<Network> ExtractSubnet(Supernet& supernet, const nas::v1::Architecture& subnet) {
  NAS_RETURN_IF_ERROR(supernet->Fits(subnet));
  NAS_ASSIGN_OR_RETURN(Network net, BuildNetwork(subnet, supernet->net->options()));
  NAS_RETURN_IF_ERROR(InheritWeights(supernet->net, net));
  net->eval();
  return net;
}

SupernetTrainer::SupernetTrainer(const SearchSpaceDef& space, const NetworkOptions& network,
                                 const nas::v1::TrainingRecipe& recipe, Options options)
    : space_(space), recipe_(recipe), options_(options) {
  torch::manual_seed(recipe.seed());
  supernet_ = Supernet(LargestArchitecture(space), network);
  optimizer_ = MakeOptimizer(supernet_->parameters(), recipe);
}

absl::StatusOr<std::unique_ptr<SupernetTrainer>> SupernetTrainer::Create(
    const SearchSpaceDef& space, const NetworkOptions& network,
    const nas::v1::TrainingRecipe& recipe, Options options) {
  NAS_RETURN_IF_ERROR(SupernetCovers(space));
  if (options.epochs <= 0) return absl::InvalidArgumentError("supernet epochs: must be positive");
  if (options.random_subnets < 0 || (options.random_subnets == 0 && !options.sandwich)) {
    return absl::InvalidArgumentError("supernet: each step needs at least one subnet");
  }
  NAS_RETURN_IF_ERROR(ValidateForBuild(LargestArchitecture(space)));
  try {
    return std::unique_ptr<SupernetTrainer>(new SupernetTrainer(space, network, recipe, options));
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("building the supernet: ", e.what_without_backtrace()));
  }
}

namespace {

// Sums each step's gradients over a gang: one flat buffer per step holding every parameter's
// gradient (zeros where it has none), a has-gradient flag per parameter (a parameter no
// rank's subnets used keeps no gradient, as in training alone) and the loss.
class GradientSum {
 public:
  GradientSum(Gang& gang, std::vector<torch::Tensor> parameters)
      : gang_(gang), parameters_(std::move(parameters)) {
    int64_t n = 0;
    for (const torch::Tensor& p : parameters_) n += p.numel();
    flat_ = torch::zeros({n + static_cast<int64_t>(parameters_.size()) + 1});
  }

  // Returns the loss summed over the ranks.
  double operator()(double loss) {
    float* out = flat_.data_ptr<float>();
    int64_t offset = 0;
    const int64_t flags = flat_.numel() - static_cast<int64_t>(parameters_.size()) - 1;
    for (size_t i = 0; i < parameters_.size(); ++i) {
      const torch::Tensor& p = parameters_[i];
      torch::Tensor slot = flat_.narrow(0, offset, p.numel());
      const bool has = p.grad().defined();
      if (has) {
        slot.copy_(p.grad().reshape({-1}));
      } else {
        slot.zero_();
      }
      out[flags + static_cast<int64_t>(i)] = has ? 1.0f : 0.0f;
      offset += p.numel();
    }
    out[flat_.numel() - 1] = static_cast<float>(loss);
    gang_.AllReduceSum(flat_);
    offset = 0;
    for (size_t i = 0; i < parameters_.size(); ++i) {
      torch::Tensor& p = parameters_[i];
      if (out[flags + static_cast<int64_t>(i)] > 0) {
        torch::Tensor sum = flat_.narrow(0, offset, p.numel()).view(p.sizes());
        if (p.grad().defined()) {
          p.mutable_grad().copy_(sum);
        } else {
          p.mutable_grad() = sum.clone();
        }
      }
      offset += p.numel();
    }
    return out[flat_.numel() - 1];
  }

 private:
  Gang& gang_;
  std::vector<torch::Tensor> parameters_;
  torch::Tensor flat_;
};

}  // namespace

absl::StatusOr<TrainResult> SupernetTrainer::TrainEpoch(const TensorData& data,
                                                        const ProgressCallback& on_progress,
                                                        Gang* gang) {
  if (epochs_done_ >= options_.epochs) {
    return absl::FailedPreconditionError(
        absl::StrCat("supernet: all ", options_.epochs, " epochs are trained"));
  }
  const int epoch = epochs_done_ + 1;
  // One generator per epoch, so that a resumed epoch draws what an uninterrupted one would.
  std::mt19937_64 rng(recipe_.seed() * 1000003u + static_cast<uint64_t>(epoch));
  const nas::v1::Architecture largest = LargestArchitecture(space_);
  const nas::v1::Architecture smallest = SmallestArchitecture(space_);
  const int64_t examples = TrainingExamples(data.train_images.size(0), recipe_, {});

  std::optional<GradientSum> gradient_sum;
  if (gang != nullptr) {
    try {
      // Every rank starts the epoch from rank 0's weights and statistics.
      std::vector<torch::Tensor> state;
      for (torch::Tensor& t : supernet_->parameters()) state.push_back(t.data());
      for (torch::Tensor& t : supernet_->buffers()) state.push_back(t);
      gang->Broadcast(state);
    } catch (const c10::Error& e) {
      return absl::InternalError(
          absl::StrCat("supernet gang: broadcasting weights: ", e.what_without_backtrace()));
    }
    gradient_sum.emplace(*gang, supernet_->parameters());
  }
  SetMemoryFormat(*supernet_, torch::MemoryFormat::ChannelsLast);
  struct RestoreLayout {
    Supernet& net;
    ~RestoreLayout() { SetMemoryFormat(*net, torch::MemoryFormat::Contiguous); }
  } restore_layout{supernet_};
  supernet_->train();
  // The supernet is its largest network: as that one trains.
  const Precision precision = ResolvePrecision(recipe_.precision(), supernet_->net->macs(),
                                               supernet_->net->macs_per_output_element());
  absl::StatusOr<TrainResult> result = RunTrainingLoop(
      data, recipe_, examples, EpochRange{epoch, epoch, options_.epochs}, rng, *optimizer_,
      [&](const torch::Tensor& batch_x, const torch::Tensor& batch_y) {
        // Every rank draws the same subnets (the generators stay in step).
        std::vector<nas::v1::Architecture> subnets;
        if (options_.sandwich) subnets = {largest, smallest};
        for (int i = 0; i < options_.random_subnets; ++i) {
          subnets.push_back(SampleArchitecture(space_, rng));
        }
        torch::Tensor x = batch_x, y = batch_y;
        // This rank's share of the batch, weighted so that the summed gradient is the whole
        // batch's mean-loss gradient.
        double weight = 1;
        if (gang != nullptr) {
          const int64_t n = batch_x.size(0);
          const int64_t lo = n * gang->rank() / gang->size();
          const int64_t hi = n * (gang->rank() + 1) / gang->size();
          x = batch_x.narrow(0, lo, hi - lo);
          y = batch_y.narrow(0, lo, hi - lo);
          weight = static_cast<double>(hi - lo) / static_cast<double>(n);
        }
        double loss_sum = 0;
        // Batch norm needs two rows; a smaller share (the tail of an epoch over a large gang)
        // adds nothing but still takes part in the sum.
        if (x.size(0) >= 2 || gang == nullptr) {
          for (const nas::v1::Architecture& subnet : subnets) {
            torch::Tensor logits =
                ForwardInPrecision(precision, [&] { return supernet_->forward(x, subnet); });
            torch::Tensor loss = ClassificationLoss(logits, y, recipe_);
            (gang == nullptr ? loss : loss * weight).backward();
            loss_sum += loss.item<double>() * weight;
          }
        }
        if (gradient_sum.has_value()) loss_sum = (*gradient_sum)(loss_sum);
        return loss_sum / static_cast<double>(subnets.size());
      },
      on_progress);
  if (result.ok() && !result->stopped && gang != nullptr) {
    try {
      // The ranks' running statistics come from their own shares: average them.
      for (torch::Tensor& b : supernet_->buffers()) {
        if (!b.is_floating_point()) continue;
        torch::Tensor t = b.contiguous();
        gang->AllReduceSum(t);
        b.copy_(t / gang->size());
      }
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("supernet gang: averaging batch-norm statistics: ",
                                              e.what_without_backtrace()));
    }
  }
  if (result.ok()) result->precision = precision;
  if (result.ok() && !result->stopped) ++epochs_done_;
  return result;
}

absl::StatusOr<std::string> SupernetTrainer::SaveCheckpoint() {
  try {
    torch::serialize::OutputArchive archive;
    supernet_->save(archive);
    torch::serialize::OutputArchive optimizer;
    optimizer_->save(optimizer);
    archive.write("optimizer", optimizer);
    archive.write("epochs_done", torch::tensor(static_cast<int64_t>(epochs_done_)));
    std::ostringstream out;
    archive.save_to(out);
    return out.str();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("saving the supernet: ", e.what_without_backtrace()));
  }
}

absl::Status SupernetTrainer::LoadCheckpoint(const std::string& bytes) {
  try {
    std::istringstream in(bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    supernet_->load(archive);
    torch::serialize::InputArchive optimizer;
    archive.read("optimizer", optimizer);
    optimizer_->load(optimizer);
    torch::Tensor epochs;
    archive.read("epochs_done", epochs);
    epochs_done_ = static_cast<int>(epochs.item<int64_t>());
    return absl::OkStatus();
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat("supernet checkpoint: ", e.what_without_backtrace()));
  }
}

}  // namespace nas
