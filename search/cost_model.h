// Cost model: what an architecture costs before anyone trains it. Pure arithmetic over the
// shapes trainer/model_builder.h builds, so the controller can reason about costs without
// LibTorch, and the trainer reports the very same MACs and memory it was checked against.
//
//   ArchitectureCost cost = EstimateCost(arch, FashionMnistInput());
//   cost.params;                 // exact parameter count of the built network
//   cost.macs;                   // multiply-accumulates of one inference at batch 1
//   cost.peak_activation_bytes;  // fp32, MCUNet-style (see below)
//
// trainer/model_builder_test.cc checks params and MACs against the real LibTorch modules on
// many random architectures of every space.
#ifndef NAS_SEARCH_COST_MODEL_H_
#define NAS_SEARCH_COST_MODEL_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "proto/nas.pb.h"

namespace nas {

// BottleneckChannels() is the inner width of a bottleneck residual block of `width` outputs.
int BottleneckChannels(int width);

// InputShape: what the dataset feeds the network.
struct InputShape {
  int channels = 1;
  // The images' native size; the network resizes them to the architecture's resolution.
  int height = 28;
  int width = 28;
  int classes = 10;
};

struct ArchitectureCost {
  // Trainable parameters (convolution and linear weights, linear biases, batch-norm scale and
  // shift; not the batch-norm running statistics, which are buffers).
  int64_t params = 0;
  // Multiply-accumulates of one inference at batch 1: convolutions, the squeeze-excite gates
  // (their 1x1 convolutions and the gating product) and the classifier.
  int64_t macs = 0;
  // Largest set of fp32 activations alive at once in one inference at batch 1, as MCUNet
  // (Lin et al. 2020) counts it: a layer's input and output, plus a residual block's input
  // while the block runs.
  int64_t peak_activation_bytes = 0;
  // Weights at fp32; the int8 deploy graph (int8 weights, per-channel scales, int32 biases,
  // the quantizers of its activations, its nodes), the size of the ONNX int8 file within 10%.
  int64_t model_bytes_fp32 = 0;
  int64_t model_bytes_int8 = 0;
  // Elements every layer writes at batch 1, summed (each convolution's output, the resize).
  // MACs per element written is the network's arithmetic intensity: high in ResNets (3 x 3
  // convolutions over many channels), low in small or depthwise networks, whose time goes to
  // element-wise work that bf16 does not speed up (trainer/precision.h).
  int64_t layer_output_elements = 0;
};

// MacsPerOutputElement() is `cost`'s arithmetic intensity: macs / layer_output_elements.
double MacsPerOutputElement(const ArchitectureCost& cost);

// EstimateCost() returns the cost of `arch` (a valid architecture of a built-in space) on
// `input`.
ArchitectureCost EstimateCost(const nas::v1::Architecture& arch, const InputShape& input);

// FashionMnistInput() is Fashion-MNIST's shape: 1 x 28 x 28, 10 classes.
InputShape FashionMnistInput();

// InputShapeFor() returns the shape of a dataset this file knows (Fashion-MNIST), else the
// smallest any dataset can have (1 channel, 1 x 1 pixels, 2 classes): costs computed on it
// are lower bounds, safe for deciding that an architecture is too big.
InputShape InputShapeFor(absl::string_view dataset);

}  // namespace nas

#endif  // NAS_SEARCH_COST_MODEL_H_
