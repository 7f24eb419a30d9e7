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

// A network of a user's space with every block type: a plain convolution, a basic and a
// bottleneck residual (kernel 5, projected), a depthwise-separable block, a stride-1 inverted
// residual stage with squeeze-excite after a stride-2 one, and a head convolution.
inline nas::v1::Architecture EveryBlockType(int resolution = 28) {
  nas::v1::Architecture a;
  a.set_space("every-block");
  a.set_resolution(resolution);
  a.set_stem_width(8);
  a.set_head_width(48);
  auto stage = [&a](int width, int stride) {
    nas::v1::Stage* s = a.add_stages();
    s->set_width(width);
    s->set_stride(stride);
    return s;
  };
  auto block = [](nas::v1::Stage* s, nas::v1::BlockType type, int kernel, int expansion = 1,
                  bool se = false) {
    nas::v1::Block* b = s->add_blocks();
    b->set_type(type);
    b->set_kernel(kernel);
    b->set_expansion(expansion);
    b->set_squeeze_excite(se);
  };
  nas::v1::Stage* s0 = stage(12, 1);
  block(s0, nas::v1::CONV, 3);
  block(s0, nas::v1::BASIC_RESIDUAL, 5);
  nas::v1::Stage* s1 = stage(24, 2);
  block(s1, nas::v1::BOTTLENECK_RESIDUAL, 3);
  block(s1, nas::v1::BOTTLENECK_RESIDUAL, 5);
  nas::v1::Stage* s2 = stage(32, 2);
  block(s2, nas::v1::DEPTHWISE_SEPARABLE, 7);
  block(s2, nas::v1::INVERTED_RESIDUAL, 3, 4, true);
  nas::v1::Stage* s3 = stage(32, 1);
  block(s3, nas::v1::INVERTED_RESIDUAL, 5, 2);
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
