// The formats a finished model is stored and fetched in (ModelMetadata.format).
#ifndef NAS_COMMON_MODEL_FORMAT_H_
#define NAS_COMMON_MODEL_FORMAT_H_

#include "absl/strings/string_view.h"

namespace nas {

inline constexpr char kTorchScript[] = "torchscript";
inline constexpr char kOnnxFp32[] = "onnx-fp32";
inline constexpr char kOnnxInt8[] = "onnx-int8";
// For error messages.
inline constexpr char kModelFormatList[] = "torchscript, onnx-fp32 or onnx-int8";

inline bool IsModelFormat(absl::string_view f) {
  return f == kTorchScript || f == kOnnxFp32 || f == kOnnxInt8;
}

// A training's state at an epoch's end (weights, optimizer, data order), stored under its
// candidate while the training is under way: a later lease resumes from it. Not a model.
inline constexpr char kTrainingCheckpointFormat[] = "training-checkpoint";

inline bool IsOnnxFormat(absl::string_view f) { return f == kOnnxFp32 || f == kOnnxInt8; }

}  // namespace nas

#endif  // NAS_COMMON_MODEL_FORMAT_H_
