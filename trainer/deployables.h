// What a finished model becomes for the devices it may run on: its int8 quantization (measured
// on the validation and test splits, fine-tuned when the recipe asks and post-training loses
// too much) and its files: TorchScript, ONNX fp32, ONNX int8 QDQ, each with the metadata that
// says how to feed it.
//
//   NAS_ASSIGN_OR_RETURN(Int8Evaluation int8, QuantizeAndEvaluate(net, data, recipe, fp32_val,
//                                                                  /*with_test=*/true, nullptr));
//   NAS_ASSIGN_OR_RETURN(std::vector<Deployable> files, MakeDeployables(net, int8, base));
#ifndef NAS_TRAINER_DEPLOYABLES_H_
#define NAS_TRAINER_DEPLOYABLES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/nas.pb.h"
#include "trainer/deploy_graph.h"
#include "trainer/model_builder.h"
#include "trainer/quantize.h"
#include "trainer/training.h"

namespace nas {

// Training images the activation ranges are calibrated on.
inline constexpr int kCalibrationImages = 1024;

struct Int8Evaluation {
  DeployGraph graph;  // the weights the int8 model quantizes (fine-tuned ones after QAT)
  Int8Model model;
  double val_accuracy = 0;
  double test_accuracy = -1;                // -1 when not measured
  double post_training_val_accuracy = 0;    // before any fine-tuning
  double post_training_test_accuracy = -1;  // before any fine-tuning; -1 when not measured
};

// QuantizeAndEvaluate() quantizes `net` after training (calibrated on kCalibrationImages
// training images drawn with the recipe's seed) and measures the int8 model's validation
// accuracy, and its test accuracy when `with_test`. When the recipe has qat_epochs and the int8
// model trails `fp32_val_accuracy` by more than qat_max_loss, it is fine-tuned first.
absl::StatusOr<Int8Evaluation> QuantizeAndEvaluate(Network& net, const TensorData& data,
                                                   const nas::v1::TrainingRecipe& recipe,
                                                   double fp32_val_accuracy, bool with_test,
                                                   const ProgressCallback& on_progress);

// InputContractOf() is what a model built with `options` at `resolution` expects.
nas::v1::InputContract InputContractOf(const NetworkOptions& options, int resolution);

struct Deployable {
  std::string format;  // "torchscript", "onnx-fp32", "onnx-int8"
  std::string bytes;
  nas::v1::ModelMetadata metadata;
};

// MakeDeployables() exports `net` in every format. `base` carries what every file shares
// (architecture, metrics, classes, dataset, a file name stem without extension); each file's
// metadata adds its format, file name, input contract, quantization and the list of formats.
absl::StatusOr<std::vector<Deployable>> MakeDeployables(Network& net, const Int8Evaluation& int8,
                                                        const nas::v1::ModelMetadata& base);

}  // namespace nas

#endif  // NAS_TRAINER_DEPLOYABLES_H_
