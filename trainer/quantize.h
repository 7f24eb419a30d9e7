// Post-training int8 quantization of a deploy graph (trainer/deploy_graph.h), its evaluation,
// and quantization-aware fine-tuning.
//
//   DeployGraph g = FoldNetwork(net);
//   Int8Model q = QuantizeGraph(g, CalibrateRanges(g, calibration_images));
//   double acc = EvaluateInt8(g, q, data.val_images, data.val_labels);
//
// The scheme is the one int8 edge toolchains run (and ONNX's QDQ form writes): per-output-channel
// symmetric int8 weights (zero point 0, [-127, 127]), int32 biases at the scale of input times
// weight, per-tensor asymmetric int8 activations ([-128, 127] with a zero point). Activations
// are calibrated by min/max over a sample of training images: the networks here end every
// convolution in ReLU, ReLU6 or nothing and have few outlier activations, min/max needs one pass
// and no tuning, and it keeps every value the graph produced on the calibration images
// representable (percentile clipping would trade that for resolution: a candidate for later, if
// docs/int8.md's post-training losses call for it).
// RunInt8() computes exactly what ONNX's QuantizeLinear / DequantizeLinear specify (round half
// to even, saturate), so an ONNX runtime given the QDQ file reproduces its accuracy.
#ifndef NAS_TRAINER_QUANTIZE_H_
#define NAS_TRAINER_QUANTIZE_H_

#include <torch/torch.h>

#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "trainer/deploy_graph.h"
#include "trainer/training.h"

namespace nas {

struct ActivationRange {
  float min = 0;
  float max = 0;
};

struct ActivationQuant {
  float scale = 1;
  int32_t zero_point = 0;
};

// One convolution's (or the classifier's) quantized weights.
struct WeightQuant {
  torch::Tensor weight;      // int8, the weight's shape
  torch::Tensor scale;       // float, one per output channel
  torch::Tensor bias;        // int32, one per output channel
  torch::Tensor bias_scale;  // float: input scale x weight scale, per output channel
};

struct Int8Model {
  std::vector<ActivationQuant> activations;  // by site (deploy_graph.h)
  std::vector<WeightQuant> weights;          // by convolution, the classifier last
  int calibration_images = 0;
  bool fine_tuned = false;
};

// CalibrateRanges() runs the fp32 graph on `images` (uint8 N x C x H x W) and returns every
// activation site's minimum and maximum.
std::vector<ActivationRange> CalibrateRanges(const DeployGraph& g, const torch::Tensor& images);

// QuantizeGraph() quantizes `g`'s weights and, from `ranges`, its activations.
Int8Model QuantizeGraph(const DeployGraph& g, const std::vector<ActivationRange>& ranges);

// QuantizeWithActivations() quantizes `g`'s weights for the given activation quantizers.
Int8Model QuantizeWithActivations(const DeployGraph& g, std::vector<ActivationQuant> activations);

// ActivationQuantFor() is the asymmetric int8 scale and zero point covering [min, max] (widened
// to hold 0).
ActivationQuant ActivationQuantFor(ActivationRange range);

// RunInt8() is the int8 model's logits for float `images` in [0, 1].
torch::Tensor RunInt8(const DeployGraph& g, const Int8Model& q, const torch::Tensor& images);

// EvaluateInt8() / EvaluateFloat() are the top-1 accuracy of the int8 / fp32 deploy graph on
// uint8 `images`.
double EvaluateInt8(const DeployGraph& g, const Int8Model& q, const torch::Tensor& images,
                    const torch::Tensor& labels);
double EvaluateFloat(const DeployGraph& g, const torch::Tensor& images,
                     const torch::Tensor& labels);

// FineTuneInt8() is quantization-aware training: `epochs` epochs of the recipe at a tenth of its
// learning rate through the graph with its quantizers simulated (straight-through gradients),
// batch norm folded and frozen, activation ranges fixed from calibration; then the weights are
// quantized again into `q`. `g` holds the fine-tuned fp32 weights afterwards.
absl::StatusOr<TrainResult> FineTuneInt8(DeployGraph& g, Int8Model& q, const TensorData& data,
                                         const nas::v1::TrainingRecipe& recipe, int epochs,
                                         const ProgressCallback& on_progress);

// CalibrationImages() is the calibration sample: `n` training images drawn with `seed`.
torch::Tensor CalibrationImages(const TensorData& data, int n, uint64_t seed);

// QuantizationInfoOf() describes `q` for a model's metadata.
nas::v1::QuantizationInfo QuantizationInfoOf(const Int8Model& q);

}  // namespace nas

#endif  // NAS_TRAINER_QUANTIZE_H_
