// onnx_reference: trains random architectures of both built-in spaces the way a worker trains a
// finished model (briefly), quantizes them, and writes every file a worker uploads with what the
// worker would report, for tests/onnx_verify_test.py to check outside our code.
//
//   onnx_reference OUT_DIR COUNT SEED [TEST_IMAGES]
//     OUT_DIR/test_images.u8, test_labels.u8   the first TEST_IMAGES (default 1000) test images
//     OUT_DIR/NN/model.pt, model.onnx, model.int8.onnx, report.txt   per candidate
//
// report.txt holds "key value" lines: space, fp32_test and int8_test (the accuracies
// QuantizeAndEvaluate() and the LibTorch network measure on those test images, as a worker
// reports them), int8_model_bytes (the cost model's size of the int8 graph), post_training_val.
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "search/cost_model.h"
#include "search/search_space.h"
#include "trainer/deployables.h"

namespace {

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

void WriteTensor(const std::string& path, const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous().to(torch::kUInt8);
  std::ofstream(path, std::ios::binary)
      .write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
}

}  // namespace

int main(int argc, char** argv) {
  int count = 0;
  uint64_t seed = 0;
  int test_images = 1000;
  if (argc < 4 || !absl::SimpleAtoi(argv[2], &count) || !absl::SimpleAtoi(argv[3], &seed) ||
      (argc > 4 && !absl::SimpleAtoi(argv[4], &test_images))) {
    std::cerr << "usage: onnx_reference OUT_DIR COUNT SEED [TEST_IMAGES]\n";
    return 2;
  }
  const std::string dir = argv[1];
  absl::StatusOr<nas::ImageDataset> d = nas::LoadDataset(nas::FashionMnist());
  if (!d.ok()) {
    std::cerr << d.status() << "\n";
    return 1;
  }
  nas::TensorData data = nas::MakeTensorData(*d, nas::SplitTrainValidation(*d, 1000, 1));
  data.test_images = data.test_images.narrow(0, 0, test_images).clone();
  data.test_labels = data.test_labels.narrow(0, 0, test_images).clone();
  WriteTensor(dir + "/test_images.u8", data.test_images);
  WriteTensor(dir + "/test_labels.u8", data.test_labels);

  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    nas::v1::SearchSpace request;
    request.set_name(i % 2 == 0 ? "mobilenetv2" : "resnet");
    const nas::v1::Architecture arch =
        nas::SampleArchitecture(*nas::ResolveSearchSpace(request), rng);
    torch::manual_seed(seed + i);
    nas::Network net = *nas::BuildNetwork(arch, nas::NetworkOptions());
    nas::v1::TrainingRecipe recipe;
    recipe.set_epochs(1);
    recipe.set_batch_size(32);
    recipe.set_train_subset(3072);
    recipe.set_seed(seed + i);
    if (!nas::Train(net, data, recipe, nas::v1::Fidelity(), nullptr).ok()) return 1;
    net->eval();
    const double fp32_val = nas::Evaluate(net, data.val_images, data.val_labels);
    const double fp32_test = nas::Evaluate(net, data.test_images, data.test_labels);
    absl::StatusOr<nas::Int8Evaluation> int8 =
        nas::QuantizeAndEvaluate(net, data, recipe, fp32_val, /*with_test=*/true, nullptr);
    if (!int8.ok()) {
      std::cerr << int8.status() << "\n";
      return 1;
    }
    nas::v1::ModelMetadata base;
    *base.mutable_architecture() = arch;
    base.set_dataset("fashion-mnist");
    base.set_file_name("model");
    absl::StatusOr<std::vector<nas::Deployable>> files = nas::MakeDeployables(net, *int8, base);
    if (!files.ok()) {
      std::cerr << files.status() << "\n";
      return 1;
    }
    const std::string out = absl::StrCat(dir, "/", i < 10 ? "0" : "", i);
    mkdir(out.c_str(), 0755);
    for (const nas::Deployable& f : *files) {
      WriteBytes(absl::StrCat(out, "/", f.metadata.file_name()), f.bytes);
    }
    std::ofstream(out + "/report.txt")
        << "space " << arch.space() << "\n"
        << "fp32_test " << fp32_test << "\n"
        << "int8_test " << int8->test_accuracy << "\n"
        << "post_training_val " << int8->post_training_val_accuracy << "\n"
        << "fp32_val " << fp32_val << "\n"
        << "int8_model_bytes " << nas::EstimateCost(arch, nas::FashionMnistInput()).model_bytes_int8
        << "\n";
    std::cout << out << " " << arch.space() << " fp32 " << fp32_test << " int8 "
              << int8->test_accuracy << "\n"
              << std::flush;
  }
  return 0;
}
