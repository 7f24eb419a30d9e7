#include "trainer/model_builder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "search/cost_model.h"
#include "search/search_space.h"

namespace nas {
namespace {

namespace F = torch::nn::functional;

}  // namespace

ConvBnImpl::ConvBnImpl(int in, int out, int kernel, int stride, int groups, Activation act)
    : activation(act) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                                       .stride(stride)
                                                       .padding(kernel / 2)
                                                       .groups(groups)
                                                       .bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(out));
}

torch::Tensor Activate(torch::Tensor x, Activation act) {
  switch (act) {
    case Activation::kReLU:
      return torch::relu(x);
    case Activation::kReLU6:
      // LibTorch 1.13 has no bf16 backward of hardtanh (ReLU6's kernel), and clamp's in bf16
      // is 4x slower than hardtanh's in fp32 here: under bf16 autocast, ReLU6 runs in fp32 (the
      // next convolution casts to bf16 again). docs/precision.md.
      return x.scalar_type() == torch::kBFloat16 ? torch::hardtanh(x.to(torch::kFloat32), 0, 6)
                                                 : torch::hardtanh(x, 0, 6);
    case Activation::kNone:
      return x;
  }
  return x;
}

torch::Tensor ConvBnImpl::forward(torch::Tensor x) { return Activate(bn(conv(x)), activation); }

int SqueezeExciteChannels(int channels) { return std::max(8, channels / 4); }

torch::Tensor SqueezeExciteGate(const torch::Tensor& x, const torch::Tensor& reduce_weight,
                                const torch::Tensor& reduce_bias,
                                const torch::Tensor& expand_weight,
                                const torch::Tensor& expand_bias) {
  torch::Tensor s = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1));
  s = torch::conv2d(torch::relu(torch::conv2d(s, reduce_weight, reduce_bias)), expand_weight,
                    expand_bias);
  // Hard sigmoid, relu6(x + 3) / 6 (Howard et al. 2019): cheap on edge hardware. The fused
  // hardtanh / hardsigmoid kernels train ~1.3x faster here than clamp, whose backward is three
  // element-wise passes.
  return x * torch::hardsigmoid(s);
}

torch::Tensor NormaliseAndResize(const torch::Tensor& images, const torch::Tensor& mean,
                                 const torch::Tensor& stddev, int resolution) {
  torch::Tensor x = (images - mean) / stddev;
  if (x.size(2) == resolution && x.size(3) == resolution) return x;
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{resolution, resolution})
                               .mode(torch::kBilinear)
                               .align_corners(false));
}

SqueezeExciteImpl::SqueezeExciteImpl(int channels) {
  const int reduced = SqueezeExciteChannels(channels);
  reduce =
      register_module("reduce", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, reduced, 1)));
  expand =
      register_module("expand", torch::nn::Conv2d(torch::nn::Conv2dOptions(reduced, channels, 1)));
}

torch::Tensor SqueezeExciteImpl::forward(torch::Tensor x) {
  return SqueezeExciteGate(x, reduce->weight, reduce->bias, expand->weight, expand->bias);
}

BlockImpl::BlockImpl(nas::v1::BlockType type, int in, int out, int kernel, int expansion, bool se,
                     int stride)
    : type(type) {
  const bool projected = stride != 1 || in != out;
  switch (type) {
    case nas::v1::BASIC_RESIDUAL:
      layers->push_back(ConvBn(in, out, kernel, stride, 1, Activation::kReLU));
      layers->push_back(ConvBn(out, out, kernel, 1, 1, Activation::kNone));
      residual = relu_after_sum = true;
      break;
    case nas::v1::BOTTLENECK_RESIDUAL: {
      const int mid = BottleneckChannels(out);
      layers->push_back(ConvBn(in, mid, 1, 1, 1, Activation::kReLU));
      layers->push_back(ConvBn(mid, mid, kernel, stride, 1, Activation::kReLU));
      layers->push_back(ConvBn(mid, out, 1, 1, 1, Activation::kNone));
      residual = relu_after_sum = true;
      break;
    }
    case nas::v1::CONV:
      layers->push_back(ConvBn(in, out, kernel, stride, 1, Activation::kReLU));
      break;
    case nas::v1::DEPTHWISE_SEPARABLE:
      layers->push_back(ConvBn(in, in, kernel, stride, in, Activation::kReLU6));
      layers->push_back(ConvBn(in, out, 1, 1, 1, Activation::kReLU6));
      break;
    default: {
      const int hidden = in * expansion;
      if (expansion != 1) layers->push_back(ConvBn(in, hidden, 1, 1, 1, Activation::kReLU6));
      layers->push_back(ConvBn(hidden, hidden, kernel, stride, hidden, Activation::kReLU6));
      if (se) layers->push_back(SqueezeExcite(hidden));
      layers->push_back(ConvBn(hidden, out, 1, 1, 1, Activation::kNone));
      residual = !projected;
      break;
    }
  }
  if (residual && projected) {
    shortcut = register_module("shortcut", ConvBn(in, out, 1, stride, 1, Activation::kNone));
  }
  register_module("layers", layers);
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  torch::Tensor y = layers->forward(x);
  if (!residual) return y;
  y = y + (shortcut ? shortcut(x) : x);
  return relu_after_sum ? torch::relu(y) : y;
}

NetworkImpl::NetworkImpl(const nas::v1::Architecture& arch, const NetworkOptions& options)
    : arch_(arch), options_(options) {
  const int c = options.in_channels;
  mean = register_buffer("mean", torch::tensor(options.mean).view({1, c, 1, 1}));
  stddev = register_buffer("stddev", torch::tensor(options.stddev).view({1, c, 1, 1}));
  // A 3x3 stride-1 stem: inputs of 20 to 32 pixels have no resolution to spare.
  stem =
      register_module("stem", ConvBn(c, arch.stem_width(), 3, 1, 1,
                                     StemUsesRelu(arch) ? Activation::kReLU : Activation::kReLU6));
  int in = arch.stem_width();
  for (int s = 0; s < arch.stages_size(); ++s) {
    const nas::v1::Stage& stage = arch.stages(s);
    for (int b = 0; b < stage.blocks_size(); ++b) {
      const nas::v1::Block& blk = stage.blocks(b);
      const nas::v1::BlockType type = BlockTypeOf(arch, blk);
      blocks->push_back(Block(type, in, stage.width(), BlockKernel(type, blk),
                              BlockExpansion(type, blk), blk.squeeze_excite(),
                              b == 0 ? StageStride(arch, s) : 1));
      in = stage.width();
    }
  }
  register_module("blocks", blocks);
  if (arch.head_width() > 0) {
    // MobileNetV2's last 1x1 convolution (ReLU6) widens the features before pooling.
    head = register_module("head", ConvBn(in, arch.head_width(), 1, 1, 1, Activation::kReLU6));
    in = arch.head_width();
  }
  classifier = register_module("classifier", torch::nn::Linear(in, options.classes));
  // The cost model walks the same shapes; model_builder_test checks it against these modules.
  const ArchitectureCost cost = EstimateCost(
      arch,
      InputShape{options.in_channels, options.input_height, options.input_width, options.classes});
  macs_ = cost.macs;
  peak_activation_bytes_ = cost.peak_activation_bytes;
  macs_per_output_element_ = MacsPerOutputElement(cost);
}

torch::Tensor NetworkImpl::forward(torch::Tensor images) {
  torch::Tensor x = NormaliseAndResize(images, mean, stddev, arch_.resolution());
  x = blocks->forward(stem(x));
  if (head) x = head(x);
  x = F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  return classifier(x);
}

int64_t NetworkImpl::parameter_count() const {
  int64_t n = 0;
  for (const torch::Tensor& p : parameters()) n += p.numel();
  return n;
}

absl::Status ValidateForBuild(const nas::v1::Architecture& arch) {
  if (arch.space().empty()) return absl::InvalidArgumentError("architecture.space: empty");
  if (arch.resolution() < 8 || arch.resolution() > 512) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture.resolution: ", arch.resolution(), " is outside 8 to 512"));
  }
  if (arch.stem_width() < 1 || arch.stem_width() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture.stem_width: ", arch.stem_width(), " is outside 1 to 4096"));
  }
  if (arch.head_width() < 0 || arch.head_width() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture.head_width: ", arch.head_width(), " is outside 0 to 4096"));
  }
  if (arch.stages_size() == 0 || arch.stages_size() > 12) {
    return absl::InvalidArgumentError("architecture.stages: 1 to 12 stages");
  }
  for (int s = 0; s < arch.stages_size(); ++s) {
    const nas::v1::Stage& stage = arch.stages(s);
    const std::string at = absl::StrCat("architecture.stages[", s, "]");
    if (stage.width() < 1 || stage.width() > 4096) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".width: ", stage.width(), " is outside 1 to 4096"));
    }
    if (stage.stride() < 0 || stage.stride() > 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ".stride: ", stage.stride(), " is not 1 or 2"));
    }
    if (stage.blocks_size() == 0 || stage.blocks_size() > 16) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".blocks: 1 to 16 blocks"));
    }
    for (int b = 0; b < stage.blocks_size(); ++b) {
      const nas::v1::Block& blk = stage.blocks(b);
      const std::string bat = absl::StrCat(at, ".blocks[", b, "]");
      if (!nas::v1::BlockType_IsValid(blk.type())) {
        return absl::InvalidArgumentError(
            absl::StrCat(bat, ".type: ", static_cast<int>(blk.type()), " is not a block type"));
      }
      const nas::v1::BlockType type = BlockTypeOf(arch, blk);
      const int kernel = BlockKernel(type, blk);
      if (kernel != 1 && kernel != 3 && kernel != 5 && kernel != 7) {
        return absl::InvalidArgumentError(
            absl::StrCat(bat, ".kernel: ", kernel, " is not 1, 3, 5 or 7"));
      }
      if (type == nas::v1::INVERTED_RESIDUAL) {
        if (blk.expansion() < 1 || blk.expansion() > 8) {
          return absl::InvalidArgumentError(
              absl::StrCat(bat, ".expansion: ", blk.expansion(), " is outside 1 to 8"));
        }
      } else if ((blk.expansion() != 0 && blk.expansion() != 1) || blk.squeeze_excite()) {
        return absl::InvalidArgumentError(absl::StrCat(
            bat, ": a ", BlockTypeName(type), " block has no expansion or squeeze-excite"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Network> BuildNetwork(const nas::v1::Architecture& arch,
                                     const NetworkOptions& options) {
  if (absl::Status st = ValidateForBuild(arch); !st.ok()) return st;
  if (options.mean.size() != static_cast<size_t>(options.in_channels) ||
      options.stddev.size() != static_cast<size_t>(options.in_channels)) {
    return absl::InvalidArgumentError("options: one mean and stddev per input channel");
  }
  try {
    return Network(arch, options);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("building the network: ", e.what_without_backtrace()));
  }
}

namespace {

// Copies into `to` the leading slice of `from` of its shape (centred on the two spatial
// dimensions of a convolution kernel).
absl::Status CopySlice(const torch::Tensor& from, torch::Tensor to, const std::string& where) {
  if (!from.defined() || !to.defined()) {
    return from.defined() == to.defined()
               ? absl::OkStatus()
               : absl::InvalidArgumentError(absl::StrCat(where, ": the supernet's layer differs"));
  }
  if (from.dim() != to.dim()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": the supernet's layer differs"));
  }
  torch::Tensor slice = from;
  for (int64_t d = 0; d < to.dim(); ++d) {
    const int64_t want = to.size(d), have = from.size(d);
    if (want > have) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": needs ", want, " in dimension ", d, "; the supernet has ", have));
    }
    slice = slice.narrow(d, to.dim() == 4 && d >= 2 ? (have - want) / 2 : 0, want);
  }
  to.copy_(slice);
  return absl::OkStatus();
}

absl::Status CopyConv(const torch::nn::Conv2d& from, torch::nn::Conv2d& to, const std::string& at) {
  NAS_RETURN_IF_ERROR(CopySlice(from->weight, to->weight, at + ".weight"));
  return CopySlice(from->bias, to->bias, at + ".bias");
}

absl::Status CopyConvBn(const ConvBnImpl& from, ConvBnImpl& to, const std::string& at) {
  NAS_RETURN_IF_ERROR(CopyConv(from.conv, to.conv, at + ".conv"));
  NAS_RETURN_IF_ERROR(CopySlice(from.bn->weight, to.bn->weight, at + ".bn.weight"));
  NAS_RETURN_IF_ERROR(CopySlice(from.bn->bias, to.bn->bias, at + ".bn.bias"));
  NAS_RETURN_IF_ERROR(CopySlice(from.bn->running_mean, to.bn->running_mean, at + ".bn.mean"));
  return CopySlice(from.bn->running_var, to.bn->running_var, at + ".bn.var");
}

}  // namespace

MobileLayers MobileBlockLayers(BlockImpl& block) {
  MobileLayers r;
  std::vector<ConvBnImpl*> convs;
  for (size_t i = 0; i < block.layers->size(); ++i) {
    if (auto* c = block.layers[i]->as<ConvBnImpl>()) convs.push_back(c);
    if (auto* se = block.layers[i]->as<SqueezeExciteImpl>()) r.se = se;
  }
  r.project = convs.back();
  r.depthwise = convs[convs.size() - 2];
  if (convs.size() == 3) r.expand = convs[0];
  return r;
}

absl::Status InheritWeights(Network& super, Network& sub) {
  torch::NoGradGuard no_grad;
  const nas::v1::Architecture& big = super->architecture();
  const nas::v1::Architecture& small = sub->architecture();
  if (big.space() != small.space() || big.stages_size() != small.stages_size()) {
    return absl::InvalidArgumentError("supernet: another space or stage count");
  }
  NAS_RETURN_IF_ERROR(CopyConvBn(*super->stem, *sub->stem, "stem"));
  int big_first = 0, small_first = 0;
  for (int s = 0; s < small.stages_size(); ++s) {
    if (small.stages(s).blocks_size() > big.stages(s).blocks_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stages[", s, "]: deeper than the supernet's"));
    }
    for (int j = 0; j < small.stages(s).blocks_size(); ++j) {
      const std::string at = absl::StrCat("stages[", s, "].blocks[", j, "]");
      BlockImpl& from = *super->blocks[big_first + j]->as<BlockImpl>();
      BlockImpl& to = *sub->blocks[small_first + j]->as<BlockImpl>();
      if (to.type != from.type) {
        return absl::InvalidArgumentError(at + ".type: the supernet's block is another type");
      }
      if (to.type != nas::v1::INVERTED_RESIDUAL) {
        for (size_t l = 0; l < to.layers->size(); ++l) {
          NAS_RETURN_IF_ERROR(CopyConvBn(*from.layers[l]->as<ConvBnImpl>(),
                                         *to.layers[l]->as<ConvBnImpl>(),
                                         absl::StrCat(at, ".conv", l + 1)));
        }
        if (to.shortcut) {
          if (!from.shortcut) {
            return absl::InvalidArgumentError(at + ".shortcut: the supernet's block has none");
          }
          NAS_RETURN_IF_ERROR(CopyConvBn(*from.shortcut, *to.shortcut, at + ".shortcut"));
        }
      } else {
        const MobileLayers f = MobileBlockLayers(from), t = MobileBlockLayers(to);
        if (t.expand != nullptr) {
          if (f.expand == nullptr) {
            return absl::InvalidArgumentError(at + ".expand: the supernet's block has none");
          }
          NAS_RETURN_IF_ERROR(CopyConvBn(*f.expand, *t.expand, at + ".expand"));
        }
        NAS_RETURN_IF_ERROR(CopyConvBn(*f.depthwise, *t.depthwise, at + ".depthwise"));
        if (t.se != nullptr) {
          if (f.se == nullptr) {
            return absl::InvalidArgumentError(at + ".se: the supernet's block has none");
          }
          NAS_RETURN_IF_ERROR(CopyConv(f.se->reduce, t.se->reduce, at + ".se.reduce"));
          NAS_RETURN_IF_ERROR(CopyConv(f.se->expand, t.se->expand, at + ".se.expand"));
        }
        NAS_RETURN_IF_ERROR(CopyConvBn(*f.project, *t.project, at + ".project"));
      }
    }
    big_first += big.stages(s).blocks_size();
    small_first += small.stages(s).blocks_size();
  }
  if (sub->head) {
    if (!super->head) return absl::InvalidArgumentError("head: the supernet has none");
    NAS_RETURN_IF_ERROR(CopyConvBn(*super->head, *sub->head, "head"));
  }
  NAS_RETURN_IF_ERROR(
      CopySlice(super->classifier->weight, sub->classifier->weight, "classifier.weight"));
  return CopySlice(super->classifier->bias, sub->classifier->bias, "classifier.bias");
}

void SetMemoryFormat(torch::nn::Module& module, torch::MemoryFormat format) {
  torch::NoGradGuard no_grad;
  // A copy with the format's strides spelled out: contiguous(format) keeps a tensor as it is
  // when its layout is ambiguous (one input channel, 1 x 1 kernels), and then the convolutions
  // fall back to the default layout for the whole network.
  auto relayout = [format](torch::Tensor& t) {
    if (t.dim() == 4) t.set_data(torch::empty_like(t, t.options(), format).copy_(t.data()));
  };
  for (torch::Tensor& t : module.parameters()) relayout(t);
  for (torch::Tensor& t : module.buffers()) relayout(t);
}

}  // namespace nas
