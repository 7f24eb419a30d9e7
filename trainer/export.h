// Export of a trained network as a self-contained TorchScript module.
//
//   absl::StatusOr<std::string> file = ExportTorchScript(net);   // bytes of a .pt file
//   // torch.jit.load(...) in PyTorch or torch::jit::load(...) in C++ both read it.
//
// The module is a torch::jit::Module whose parameters are the trained weights with every batch
// norm folded into the convolution before it, and whose forward is generated TorchScript over
// plain aten operators (no Python, no custom classes). It takes images as float tensors in
// [0, 1] shaped N x C x H x W at the dataset's native size, normalises and resizes them itself,
// and returns class logits.
#ifndef NAS_TRAINER_EXPORT_H_
#define NAS_TRAINER_EXPORT_H_

#include <torch/script.h>

#include <string>

#include "absl/status/statusor.h"
#include "trainer/model_builder.h"

namespace nas {

// ExportModule() builds the TorchScript module of `net` (in eval semantics).
absl::StatusOr<torch::jit::Module> ExportModule(Network& net);

// ExportTorchScript() returns the bytes of the saved module.
absl::StatusOr<std::string> ExportTorchScript(Network& net);

}  // namespace nas

#endif  // NAS_TRAINER_EXPORT_H_
