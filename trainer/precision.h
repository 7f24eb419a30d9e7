// The arithmetic a training runs in: fp32, or bf16 mixed precision on CPUs that have bf16
// instructions (AVX512-BF16, AMX-BF16, Arm's BF16), where it trains about 2-3x faster.
//
//   SetAutoPrecision(Precision::kFp32);                // nas-trainer --auto_precision=fp32
//   Precision p = ResolvePrecision(recipe.precision());   // kBf16 on this CPU for "auto"
//   torch::Tensor logits = ForwardInPrecision(p, [&] { return net->forward(x); });  // training.h
//
// Mixed precision as torch.autocast does it: convolutions and matrix products run in bf16,
// everything else in the precision of its inputs; the weights, the optimizer state, batch
// norm's running statistics and the loss stay fp32 (Micikevicius et al. 2018; Kalamkar et al.
// 2019 for bf16, which needs no loss scaling: it has fp32's exponent range). No torch here:
// nas-trainer's main reads it.
#ifndef NAS_TRAINER_PRECISION_H_
#define NAS_TRAINER_PRECISION_H_

#include "proto/nas.pb.h"

namespace nas {

enum class Precision { kFp32, kBf16 };

// PrecisionName() is "fp32" or "bf16" (CandidateMetrics.train_precision, logs, metadata).
const char* PrecisionName(Precision precision);

// CpuHasBf16() is whether this CPU has bf16 dot-product instructions: x86's AVX512-BF16 or
// AMX-BF16, Arm's BF16 extension. Read from the CPU once.
bool CpuHasBf16();

// AutoPrecision() is what PRECISION_AUTO (and an unset precision) may train in on this
// process: bf16 when CpuHasBf16(), unless SetAutoPrecision() said otherwise. Whether a given
// network then trains in bf16 is Bf16Pays()'s to say.
Precision AutoPrecision();

// Bf16Pays() is whether bf16 trains a network of `macs` MACs per image, at
// `macs_per_output_element` MACs per element its layers write (search/cost_model.h), faster
// than fp32. bf16 speeds up the convolutions' dot products, not the element-wise work (batch
// norm, activations, casts), which is most of the time of small networks and of depthwise
// ones. Measured here (docs/precision.md, 1 thread): ResNet-18 (456M MACs, 949 per element)
// 1.9x, a 20M-MAC ResNet (184) 1.6x, MobileNetV2 1.0 (73M, 57) 1.1x; a 5M-MAC MobileNet (22)
// 0.86x, a 1.2M-MAC ResNet (70) 0.69x. Hence: at least 10M MACs and 40 per element.
bool Bf16Pays(int64_t macs, double macs_per_output_element);

// SetAutoPrecision() fixes what "auto" means in this process (nas-trainer --auto_precision).
// kBf16 on a CPU without bf16 instructions is allowed: LibTorch then emulates them, slowly.
void SetAutoPrecision(Precision precision);

// ResolvePrecision() is the precision a recipe's `precision` trains a network of that size
// and intensity in on this process: fp32 and bf16 as asked; auto bf16 where AutoPrecision()
// allows it and Bf16Pays().
Precision ResolvePrecision(nas::v1::Precision requested, int64_t macs,
                           double macs_per_output_element);

}  // namespace nas

#endif  // NAS_TRAINER_PRECISION_H_
