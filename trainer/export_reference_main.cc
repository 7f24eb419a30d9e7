// export_reference: writes a trained, exported model and reference inputs and outputs, for
// tests/export_python_test.sh to check in python3-torch.
//
//   export_reference OUT_DIR   ->  OUT_DIR/model.pt, input.f32, expected.f32, shape.txt
#include <fstream>
#include <iostream>

#include "trainer/export.h"
#include "trainer/training.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: export_reference OUT_DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  absl::StatusOr<nas::ImageDataset> d = nas::LoadDataset(nas::FashionMnist());
  if (!d.ok()) {
    std::cerr << d.status() << "\n";
    return 1;
  }
  const nas::TensorData data = nas::MakeTensorData(*d, nas::SplitTrainValidation(*d, 1000, 1));
  // MobileNetV2 blocks with squeeze-excite, a resize (20 px), and residuals.
  nas::v1::Architecture a;
  a.set_space("mobilenetv2");
  a.set_resolution(20);
  a.set_stem_width(8);
  for (int width : {8, 16}) {
    nas::v1::Stage* s = a.add_stages();
    s->set_width(width);
    for (int e : {1, 3}) {
      nas::v1::Block* b = s->add_blocks();
      b->set_kernel(5);
      b->set_expansion(e);
      b->set_squeeze_excite(true);
    }
  }
  torch::manual_seed(4);
  nas::Network net = *nas::BuildNetwork(a, nas::NetworkOptions());
  nas::v1::TrainingRecipe recipe;
  recipe.set_epochs(1);
  recipe.set_batch_size(32);
  recipe.set_train_subset(256);
  recipe.set_seed(4);
  if (!nas::Train(net, data, recipe, nas::v1::Fidelity(), nullptr).ok()) return 1;
  net->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor input = data.test_images.narrow(0, 0, 32).to(torch::kFloat32) / 255;
  const torch::Tensor expected = net->forward(input).contiguous();
  absl::StatusOr<std::string> model = nas::ExportTorchScript(net);
  if (!model.ok()) {
    std::cerr << model.status() << "\n";
    return 1;
  }
  std::ofstream(dir + "/model.pt", std::ios::binary) << *model;
  std::ofstream(dir + "/input.f32", std::ios::binary)
      .write(static_cast<const char*>(input.data_ptr()), input.numel() * 4);
  std::ofstream(dir + "/expected.f32", std::ios::binary)
      .write(static_cast<const char*>(expected.data_ptr()), expected.numel() * 4);
  std::ofstream(dir + "/shape.txt") << input.size(0) << " " << expected.size(1) << "\n";
  return 0;
}
