// Checks that bytes are an ONNX model this service can hand to a device, with ONNX's own C++
// checker and shape inference (Debian's libonnx). The trainer checks every file it exports; the
// controller checks every ONNX file uploaded to it, so a corrupt or mislabelled upload is refused
// before anything is stored.
//
//   absl::Status st = CheckOnnxModel(bytes, "onnx-int8");
#ifndef NAS_COMMON_ONNX_CHECK_H_
#define NAS_COMMON_ONNX_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace nas {

// CheckOnnxModel() returns InvalidArgument naming what is wrong unless `bytes` parse as an ONNX
// ModelProto that passes onnx::checker::check_model and strict shape inference, with one float
// input of rank 4 and one float output of rank 2 whose class count shape inference confirms.
// `format` "onnx-int8" must quantize (QuantizeLinear / DequantizeLinear nodes), "onnx-fp32" must
// not.
absl::Status CheckOnnxModel(const std::string& bytes, absl::string_view format);

}  // namespace nas

#endif  // NAS_COMMON_ONNX_CHECK_H_
