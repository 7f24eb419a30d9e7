// Export of a deploy graph (trainer/deploy_graph.h) as an ONNX model: fp32, or int8 in QDQ form.
//
//   absl::StatusOr<std::string> fp32 = ExportOnnx(g, nullptr, metadata);
//   absl::StatusOr<std::string> int8 = ExportOnnx(g, &q, metadata);   // q: trainer/quantize.h
//
// Opset 13, IR version 7. One input "images" (N x C x H x W float32 in [0, 1], N symbolic) and one
// output "logits" (N x classes). The graph normalises (Sub, Div) and resizes (Resize, linear,
// half-pixel) its input itself, then runs Conv / Relu / Clip / Add / GlobalAveragePool /
// HardSigmoid / Mul / Flatten / Gemm. In the int8 file every weight is an int8 initializer with
// one float scale per output channel (DequantizeLinear, axis 0), every bias an int32 initializer
// at scale input x weight, and every activation site of WalkGraph() a QuantizeLinear /
// DequantizeLinear pair with a per-tensor scale and int8 zero point: the layout int8 toolchains
// (ONNX Runtime, TensorRT, TFLite converters) turn into integer kernels. The model's
// metadata_props carry the input contract and the class names.
//
// Every file is checked with ONNX's checker and strict shape inference (common/onnx_check.h)
// before it is returned.
#ifndef NAS_TRAINER_ONNX_EXPORT_H_
#define NAS_TRAINER_ONNX_EXPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/deploy_graph.h"
#include "trainer/quantize.h"

namespace nas {

// ExportOnnx() writes `g` as ONNX, quantized by `q` when it is not null. `properties` are added
// to the model's metadata_props.
absl::StatusOr<std::string> ExportOnnx(
    const DeployGraph& g, const Int8Model* q,
    const std::vector<std::pair<std::string, std::string>>& properties);

}  // namespace nas

#endif  // NAS_TRAINER_ONNX_EXPORT_H_
