#include "common/onnx_check.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "onnx/checker.h"
#include "onnx/defs/schema.h"
#include "onnx/onnx_pb.h"
#include "onnx/shape_inference/implementation.h"

namespace nas {
namespace {

int Rank(const onnx::ValueInfoProto& v) {
  if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return -1;
  return v.type().tensor_type().shape().dim_size();
}

bool IsFloat(const onnx::ValueInfoProto& v) {
  return v.type().has_tensor_type() &&
         v.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT;
}

}  // namespace

absl::Status CheckOnnxModel(const std::string& bytes, absl::string_view format) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", format, " file is not an ONNX model (it does not parse)"));
  }
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true,
                                                                   /*strict_mode=*/1));
    model = std::move(inferred);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", format, " file fails ONNX's checker: ", e.what()));
  }
  const onnx::GraphProto& g = model.graph();
  if (g.input_size() != 1 || g.output_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("the ", format,
                                                   " file must have one input and one output, "
                                                   "not ",
                                                   g.input_size(), " and ", g.output_size()));
  }
  if (!IsFloat(g.input(0)) || Rank(g.input(0)) != 4 || !IsFloat(g.output(0)) ||
      Rank(g.output(0)) != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", format, " file must take float N x C x H x W images and return float N x classes"));
  }
  bool quantizes = false;
  for (const onnx::NodeProto& n : g.node()) {
    if (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear") quantizes = true;
  }
  if (format == "onnx-int8" && !quantizes) {
    return absl::InvalidArgumentError(
        "the onnx-int8 file has no QuantizeLinear / DequantizeLinear nodes: it is not int8 QDQ");
  }
  if (format == "onnx-fp32" && quantizes) {
    return absl::InvalidArgumentError("the onnx-fp32 file quantizes: upload it as onnx-int8");
  }
  return absl::OkStatus();
}

}  // namespace nas
