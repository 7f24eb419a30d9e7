// A trained network as a device runs it: batch norm folded into the convolutions, one flat list
// of steps over plain tensors. The int8 quantization (trainer/quantize.h), its evaluation and
// fine-tuning, and the ONNX writer (trainer/onnx_export.h) all walk this one list with
// WalkGraph(), so the int8 model LibTorch evaluates and the ONNX file a device loads are the same
// computation, quantizer for quantizer.
//
//   DeployGraph g = FoldNetwork(net);            // net trained, any mode
//   torch::Tensor logits = RunFloat(g, images);  // == net->forward(images) in eval mode
#ifndef NAS_TRAINER_DEPLOY_GRAPH_H_
#define NAS_TRAINER_DEPLOY_GRAPH_H_

#include <torch/torch.h>

#include <vector>

#include "trainer/model_builder.h"

namespace nas {

// A convolution with its batch norm folded in (weight out x in/groups x k x k, bias out),
// followed by an activation. "same" padding, as the builder pads.
struct FoldedConv {
  torch::Tensor weight;
  torch::Tensor bias;
  int stride = 1;
  int groups = 1;
  Activation activation = Activation::kNone;
  int kernel() const { return static_cast<int>(weight.size(2)); }
  int out_channels() const { return static_cast<int>(weight.size(0)); }
};

enum class StepKind {
  kConv,           // x = conv(x)
  kSaveResidual,   // r = x (a block's input)
  kShortcut,       // r = conv(r) (a ResNet block whose shape changes)
  kAddResidual,    // x = x + r, then ReLU in a ResNet block
  kSqueezeExcite,  // x = x * hardsigmoid(expand(relu(reduce(mean(x)))))
};

struct DeployStep {
  StepKind kind = StepKind::kConv;
  FoldedConv conv;    // kConv, kShortcut; kSqueezeExcite: the reduce convolution
  FoldedConv expand;  // kSqueezeExcite
  bool relu = false;  // kAddResidual
};

struct DeployGraph {
  // Input: N x channels x height x width floats in [0, 1].
  int channels = 1;
  int height = 28;
  int width = 28;
  // Normalisation (1 x C x 1 x 1) and the resolution the network resizes to.
  torch::Tensor mean;
  torch::Tensor stddev;
  int resolution = 28;
  std::vector<DeployStep> steps;
  // Classifier after the global average pool: weight classes x features, bias classes.
  torch::Tensor classifier_weight;
  torch::Tensor classifier_bias;
  int classes() const { return static_cast<int>(classifier_weight.size(0)); }
  bool resizes() const { return resolution != height || resolution != width; }
};

// FoldNetwork() returns `net`'s deploy graph (its batch norms' running statistics folded).
DeployGraph FoldNetwork(Network& net);

// WalkGraph() runs `g` on `input` through backend `b`, which says what each operation means
// (LibTorch tensors, ONNX nodes). Activations are quantized at numbered sites, in this order:
// the resized input, every convolution's output (after its activation), every residual sum,
// inside a squeeze-excite unit the pooled vector, the reduced vector and the gated output, and
// the pooled features before the classifier. Convolutions are numbered in order too; each
// receives the site its input was quantized at (its bias scale depends on it).
//
// A backend B has `using Value = ...;` and:
//   Value Normalize(Value x, const torch::Tensor& mean, const torch::Tensor& stddev);
//   Value Resize(Value x, int resolution);
//   Value Quantize(Value x, int site);
//   Value Conv(Value x, const FoldedConv& c, int conv, int input_site);
//   Value Add(Value x, Value r);
//   Value Relu(Value x);
//   Value Pool(Value x);                 // global average pool, keeping N x C x 1 x 1
//   Value Gate(Value x, Value s);        // x * hardsigmoid(s)
//   Value Classify(Value x, const torch::Tensor& w, const torch::Tensor& b, int conv,
//                  int input_site);      // flatten, then x w^T + b
template <typename B>
typename B::Value WalkGraph(const DeployGraph& g, B& b, typename B::Value input) {
  using Value = typename B::Value;
  int site = 0;
  int conv = 0;
  Value x = b.Normalize(input, g.mean, g.stddev);
  if (g.resizes()) x = b.Resize(x, g.resolution);
  int x_site = site++;
  x = b.Quantize(x, x_site);
  Value r = x;
  int r_site = x_site;
  for (const DeployStep& s : g.steps) {
    switch (s.kind) {
      case StepKind::kConv:
        x = b.Conv(x, s.conv, conv++, x_site);
        x_site = site++;
        x = b.Quantize(x, x_site);
        break;
      case StepKind::kSaveResidual:
        r = x;
        r_site = x_site;
        break;
      case StepKind::kShortcut:
        r = b.Conv(r, s.conv, conv++, r_site);
        r_site = site++;
        r = b.Quantize(r, r_site);
        break;
      case StepKind::kAddResidual:
        x = b.Add(x, r);
        if (s.relu) x = b.Relu(x);
        x_site = site++;
        x = b.Quantize(x, x_site);
        break;
      case StepKind::kSqueezeExcite: {
        Value e = b.Pool(x);
        int e_site = site++;
        e = b.Quantize(e, e_site);
        e = b.Conv(e, s.conv, conv++, e_site);
        e_site = site++;
        e = b.Quantize(e, e_site);
        e = b.Conv(e, s.expand, conv++, e_site);
        x = b.Gate(x, e);
        x_site = site++;
        x = b.Quantize(x, x_site);
        break;
      }
    }
  }
  x = b.Pool(x);
  x_site = site++;
  x = b.Quantize(x, x_site);
  return b.Classify(x, g.classifier_weight, g.classifier_bias, conv, x_site);
}

// TorchOps: the operations on LibTorch tensors, without quantization (Quantize() is the
// identity). The quantized backends (trainer/quantize.cc) override Quantize and the weights.
class TorchOps {
 public:
  using Value = torch::Tensor;
  virtual ~TorchOps() = default;
  torch::Tensor Normalize(torch::Tensor x, const torch::Tensor& mean, const torch::Tensor& stddev);
  torch::Tensor Resize(torch::Tensor x, int resolution);
  virtual torch::Tensor Quantize(torch::Tensor x, int site) { return x; }
  torch::Tensor Conv(torch::Tensor x, const FoldedConv& c, int conv, int input_site);
  torch::Tensor Add(torch::Tensor x, torch::Tensor r) { return x + r; }
  torch::Tensor Relu(torch::Tensor x) { return torch::relu(x); }
  torch::Tensor Pool(torch::Tensor x) { return x.mean({2, 3}, /*keepdim=*/true); }
  torch::Tensor Gate(torch::Tensor x, torch::Tensor s) { return x * torch::hardsigmoid(s); }
  torch::Tensor Classify(torch::Tensor x, const torch::Tensor& w, const torch::Tensor& b, int conv,
                         int input_site);

 protected:
  // The weight and bias convolution `conv` computes with (the float ones here).
  virtual std::pair<torch::Tensor, torch::Tensor> Weights(const torch::Tensor& w,
                                                          const torch::Tensor& b, int conv,
                                                          int input_site) {
    return {w, b};
  }
};

// RunFloat() is the fp32 deploy graph's logits for `images` (N x C x H x W floats in [0, 1]).
torch::Tensor RunFloat(const DeployGraph& g, const torch::Tensor& images);

// CountSites() is the number of activation sites and convolutions (classifier included).
struct SiteCount {
  int sites = 0;
  int convs = 0;
};
SiteCount CountSites(const DeployGraph& g);

}  // namespace nas

#endif  // NAS_TRAINER_DEPLOY_GRAPH_H_
