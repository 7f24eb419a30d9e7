// Builds a LibTorch network for an architecture of any search space.
//
//   absl::StatusOr<Network> net = BuildNetwork(arch, {.in_channels = 1, .classes = 10, ...});
//   torch::Tensor logits = (*net)->forward(images);  // images: N x C x H x W floats in [0, 1]
//
// The network is self-contained: it normalises its input with the dataset's statistics and
// resizes it to the architecture's resolution itself. Blocks are built from ConvBn units so that
// later work (a weight-sharing supernet, TorchScript export with batch-norm folding) can walk
// the same structure. Invalid architectures are rejected with InvalidArgument before any tensor
// is made.
#ifndef NAS_TRAINER_MODEL_BUILDER_H_
#define NAS_TRAINER_MODEL_BUILDER_H_

#include <torch/torch.h>

#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"

namespace nas {

struct NetworkOptions {
  int in_channels = 1;
  int classes = 10;
  // The dataset's native image size (inputs arrive at this size).
  int input_height = 28;
  int input_width = 28;
  // Per-channel normalisation applied inside the network.
  std::vector<float> mean = {0.2860f};
  std::vector<float> stddev = {0.3530f};
};

enum class Activation { kNone, kReLU, kReLU6 };

// Activate() applies `act` (ReLU6 as hardtanh(0, 6)).
torch::Tensor Activate(torch::Tensor x, Activation act);

// SqueezeExciteChannels() is the reduced width of a squeeze-excite unit over `channels`.
int SqueezeExciteChannels(int channels);

// SqueezeExciteGate() scales the channels of `x` by the unit's gate: global average pool, 1x1
// reduce, ReLU, 1x1 expand, hard sigmoid. Weights and biases may be slices of larger ones.
torch::Tensor SqueezeExciteGate(const torch::Tensor& x, const torch::Tensor& reduce_weight,
                                const torch::Tensor& reduce_bias,
                                const torch::Tensor& expand_weight,
                                const torch::Tensor& expand_bias);

// NormaliseAndResize() is a network's input stage: images N x C x H x W in [0, 1] normalised
// by `mean` and `stddev` (1 x C x 1 x 1) and resized bilinearly to `resolution` if needed.
torch::Tensor NormaliseAndResize(const torch::Tensor& images, const torch::Tensor& mean,
                                 const torch::Tensor& stddev, int resolution);

// ConvBn: convolution (no bias), batch norm, optional activation.
class ConvBnImpl : public torch::nn::Module {
 public:
  ConvBnImpl(int in, int out, int kernel, int stride, int groups, Activation act);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  Activation activation;
};
TORCH_MODULE(ConvBn);

// SqueezeExcite (Hu et al. 2018): channel attention with a reduction of 4, hard-sigmoid gate.
class SqueezeExciteImpl : public torch::nn::Module {
 public:
  explicit SqueezeExciteImpl(int channels);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Conv2d reduce{nullptr};
  torch::nn::Conv2d expand{nullptr};
};
TORCH_MODULE(SqueezeExcite);

// A block of any nas::v1::BlockType: `layers` run in order; the input is added when `residual`
// is set (through `shortcut` when the shapes differ), then ReLU when `relu_after_sum` (the
// ResNet types).
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(nas::v1::BlockType type, int in, int out, int kernel, int expansion, bool se,
            int stride);
  torch::Tensor forward(torch::Tensor x);

  torch::nn::Sequential layers;
  ConvBn shortcut{nullptr};
  nas::v1::BlockType type;
  bool residual = false;
  bool relu_after_sum = false;
};
TORCH_MODULE(Block);

// MobileLayers: the layers of a MobileNetV2 block by role (`expand` is null without expansion,
// `se` without squeeze-excite).
struct MobileLayers {
  ConvBnImpl* expand = nullptr;
  ConvBnImpl* depthwise = nullptr;
  SqueezeExciteImpl* se = nullptr;
  ConvBnImpl* project = nullptr;
};

// MobileBlockLayers() finds the roles of a MobileNetV2 block's layers.
MobileLayers MobileBlockLayers(BlockImpl& block);

class NetworkImpl : public torch::nn::Module {
 public:
  NetworkImpl(const nas::v1::Architecture& arch, const NetworkOptions& options);
  // Images N x C x H x W in [0, 1] at the dataset's size -> logits N x classes.
  torch::Tensor forward(torch::Tensor images);

  // Multiply-accumulates of one inference at batch 1.
  int64_t macs() const { return macs_; }
  // Largest set of fp32 activations alive at once in one inference at batch 1 (MCUNet-style:
  // a layer's input and output, plus a residual block's input while the block runs).
  int64_t peak_activation_bytes() const { return peak_activation_bytes_; }
  // MACs per element its layers write (search/cost_model.h): whether bf16 pays.
  double macs_per_output_element() const { return macs_per_output_element_; }
  int64_t parameter_count() const;

  const nas::v1::Architecture& architecture() const { return arch_; }
  const NetworkOptions& options() const { return options_; }

  ConvBn stem{nullptr};
  torch::nn::Sequential blocks;
  ConvBn head{nullptr};  // null without a head convolution (head_width 0)
  torch::nn::Linear classifier{nullptr};
  torch::Tensor mean;    // buffer, 1 x C x 1 x 1
  torch::Tensor stddev;  // buffer, 1 x C x 1 x 1

 private:
  nas::v1::Architecture arch_;
  NetworkOptions options_;
  int64_t macs_ = 0;
  int64_t peak_activation_bytes_ = 0;
  double macs_per_output_element_ = 0;
};
TORCH_MODULE(Network);

// ValidateForBuild() checks that `arch` is buildable (a known space, positive sizes, supported
// kernels and expansions); the error names the field.
absl::Status ValidateForBuild(const nas::v1::Architecture& arch);

// BuildNetwork() validates `arch` and builds it with freshly initialised weights.
absl::StatusOr<Network> BuildNetwork(const nas::v1::Architecture& arch,
                                     const NetworkOptions& options);

// InheritWeights() copies into `sub` the weights it shares with `super` under the elastic
// scheme of once-for-all supernets (Cai et al. 2020), the first step of weight-sharing NAS:
// block j of stage s takes block j of the supernet's stage s (elastic depth); a convolution
// takes the supernet's first output and input channels (elastic width and expansion) and the
// centre of its larger kernel (elastic kernel); batch norm (statistics included), squeeze-excite
// and the classifier take the first channels. A block without an expansion convolution skips
// the supernet's. Both networks must be of one space and stage count, and `super` at least as
// large everywhere; otherwise InvalidArgument names the first layer that does not fit.
absl::Status InheritWeights(Network& super, Network& sub);

// SetMemoryFormat() lays out every 4-D parameter and buffer of `module` in `format`
// (channels-last for training, contiguous for export and inference).
void SetMemoryFormat(torch::nn::Module& module, torch::MemoryFormat format);

}  // namespace nas

#endif  // NAS_TRAINER_MODEL_BUILDER_H_
