// Small architectures and the Fashion-MNIST splits for the trainer's tests (testonly).
//
//   Network net = *BuildNetwork(SmallMobileNet(20, /*se=*/true), NetworkOptions());
//   const TensorData& data = FashionMnistForTests();   // loaded once per test binary
#ifndef NAS_TRAINER_TEST_NETWORKS_H_
#define NAS_TRAINER_TEST_NETWORKS_H_

#include "proto/nas.pb.h"
#include "trainer/training.h"

namespace nas {

// Three MobileNetV2 stages (widths 8, 16, 24; kernels 3, 5, 7), each a block of expansion 1
// and one of `expansion`, squeeze-excite on every block when `se`.
inline nas::v1::Architecture SmallMobileNet(int resolution, bool se, int expansion = 6) {
  nas::v1::Architecture a;
  a.set_space("mobilenetv2");
  a.set_resolution(resolution);
  a.set_stem_width(8);
  int k = 3;
  for (int width : {8, 16, 24}) {
    nas::v1::Stage* s = a.add_stages();
    s->set_width(width);
    for (int e : {1, expansion}) {
      nas::v1::Block* b = s->add_blocks();
      b->set_kernel(k);
      b->set_expansion(e);
      b->set_squeeze_excite(se);
    }
    k += 2;
  }
  return a;
}

// Three ResNet stages (widths 8, 16, 32) of two basic blocks: projection shortcuts included.
inline nas::v1::Architecture SmallResNet(int resolution = 28) {
  nas::v1::Architecture a;
  a.set_space("resnet");
  a.set_resolution(resolution);
  a.set_stem_width(8);
  for (int width : {8, 16, 32}) {
    nas::v1::Stage* s = a.add_stages();
    s->set_width(width);
    s->add_blocks();
    s->add_blocks();
  }
  return a;
}

// Fashion-MNIST with 1,000 validation examples, loaded on first use and kept.
inline const TensorData& FashionMnistForTests() {
  static const TensorData* data = [] {
    absl::StatusOr<ImageDataset> d = LoadDataset(nas::FashionMnist());
    if (!d.ok()) {
      fprintf(stderr, "FashionMnistForTests: %s\n", d.status().ToString().c_str());
      abort();
    }
    return new TensorData(MakeTensorData(*d, SplitTrainValidation(*d, 1000, 1)));
  }();
  return *data;
}

}  // namespace nas

#endif  // NAS_TRAINER_TEST_NETWORKS_H_
