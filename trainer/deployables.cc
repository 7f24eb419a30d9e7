#include "trainer/deployables.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "trainer/export.h"
#include "trainer/onnx_export.h"

namespace nas {

absl::StatusOr<Int8Evaluation> QuantizeAndEvaluate(Network& net, const TensorData& data,
                                                   const nas::v1::TrainingRecipe& recipe,
                                                   double fp32_val_accuracy, bool with_test,
                                                   const ProgressCallback& on_progress) {
  Int8Evaluation e;
  try {
    net->eval();
    e.graph = FoldNetwork(net);
    const torch::Tensor calibration = CalibrationImages(data, kCalibrationImages, recipe.seed());
    e.model = QuantizeGraph(e.graph, CalibrateRanges(e.graph, calibration));
    e.model.calibration_images = static_cast<int>(calibration.size(0));
    e.val_accuracy = EvaluateInt8(e.graph, e.model, data.val_images, data.val_labels);
    e.post_training_val_accuracy = e.val_accuracy;
    const double max_loss = recipe.qat_max_loss() > 0 ? recipe.qat_max_loss() : 0.01;
    auto test = [&] { return EvaluateInt8(e.graph, e.model, data.test_images, data.test_labels); };
    if (recipe.qat_epochs() > 0 && fp32_val_accuracy - e.val_accuracy > max_loss) {
      if (with_test) e.post_training_test_accuracy = test();
      NAS_ASSIGN_OR_RETURN(TrainResult tuned, FineTuneInt8(e.graph, e.model, data, recipe,
                                                           recipe.qat_epochs(), on_progress));
      if (tuned.stopped) return absl::AbortedError("quantization-aware fine-tuning stopped");
      e.val_accuracy = EvaluateInt8(e.graph, e.model, data.val_images, data.val_labels);
    }
    if (with_test) e.test_accuracy = test();
    if (with_test && !e.model.fine_tuned) e.post_training_test_accuracy = e.test_accuracy;
  } catch (const c10::Error& err) {
    return absl::InternalError(absl::StrCat("int8 quantization: ", err.what_without_backtrace()));
  }
  return e;
}

nas::v1::InputContract InputContractOf(const NetworkOptions& options, int resolution) {
  nas::v1::InputContract c;
  for (int64_t d : {int64_t{-1}, int64_t{options.in_channels}, int64_t{options.input_height},
                    int64_t{options.input_width}}) {
    c.add_shape(d);
  }
  c.set_dtype("float32");
  c.set_value_min(0);
  c.set_value_max(1);
  c.set_normalised_inside(true);
  for (float m : options.mean) c.add_mean(m);
  for (float s : options.stddev) c.add_stddev(s);
  c.set_channel_order(options.in_channels == 1 ? "gray" : "rgb");
  c.set_layout("NCHW");
  c.set_resolution(resolution);
  return c;
}

absl::StatusOr<std::vector<Deployable>> MakeDeployables(Network& net, const Int8Evaluation& int8,
                                                        const nas::v1::ModelMetadata& base) {
  nas::v1::ModelMetadata shared = base;
  *shared.mutable_input() = InputContractOf(net->options(), net->architecture().resolution());
  *shared.mutable_quantization() = QuantizationInfoOf(int8.model);
  shared.mutable_quantization()->set_post_training_val_accuracy(int8.post_training_val_accuracy);
  shared.mutable_quantization()->set_post_training_test_accuracy(int8.post_training_test_accuracy);
  for (const char* f : {"torchscript", "onnx-fp32", "onnx-int8"}) shared.add_formats(f);
  // What a device toolchain reads without our metadata file.
  const nas::v1::InputContract& in = shared.input();
  const std::vector<std::pair<std::string, std::string>> properties = {
      {"input",
       absl::StrCat("images: float32 ", in.layout(), " [N, ",
                    absl::StrJoin(in.shape().begin() + 1, in.shape().end(), ", "), "], ",
                    in.channel_order(),
                    ", values in [0, 1]; the model "
                    "normalises (mean ",
                    absl::StrJoin(in.mean(), ","), ", stddev ", absl::StrJoin(in.stddev(), ","),
                    ") and resizes to ", in.resolution(), " itself")},
      {"output", "logits: float32 [N, classes]"},
      {"classes", absl::StrJoin(base.classes(), ",")},
      {"dataset", base.dataset()},
  };
  std::vector<Deployable> files;
  NAS_ASSIGN_OR_RETURN(std::string script, ExportTorchScript(net));
  files.push_back({"torchscript", std::move(script), shared});
  const DeployGraph fp32_graph = FoldNetwork(net);
  NAS_ASSIGN_OR_RETURN(std::string fp32, ExportOnnx(fp32_graph, nullptr, properties));
  files.push_back({"onnx-fp32", std::move(fp32), shared});
  NAS_ASSIGN_OR_RETURN(std::string q, ExportOnnx(int8.graph, &int8.model, properties));
  files.push_back({"onnx-int8", std::move(q), shared});
  for (Deployable& d : files) {
    d.metadata.set_format(d.format);
    d.metadata.set_size_bytes(static_cast<int64_t>(d.bytes.size()));
    const char* ext = d.format == "torchscript" ? ".pt"
                      : d.format == "onnx-fp32" ? ".onnx"
                                                : ".int8.onnx";
    d.metadata.set_file_name(absl::StrCat(base.file_name(), ext));
  }
  return files;
}

}  // namespace nas
