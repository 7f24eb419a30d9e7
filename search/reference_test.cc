#include "search/reference.h"

#include "gtest/gtest.h"
#include "search/cost_model.h"

namespace nas {
namespace {

SearchSpaceDef Preset(const std::string& name) {
  nas::v1::SearchSpace s;
  s.set_name(name);
  return *ResolveSearchSpace(s);
}

TEST(ReferenceTest, APresetNamesItsNetworkAtTheResolutionNearestTheImages) {
  nas::v1::Reference ref;
  ref.set_preset("resnet18");
  absl::StatusOr<nas::v1::Architecture> r18 = ResolveReference(ref, Preset("resnet18"), 28);
  ASSERT_TRUE(r18.ok()) << r18.status();
  EXPECT_EQ(r18->resolution(), 28);
  const ArchitectureCost cost = EstimateCost(*r18, FashionMnistInput());
  EXPECT_EQ(cost.params, 11172810);  // ResNet-18, one input channel, 10 classes
  EXPECT_NEAR(cost.macs / 1e6, 456, 1);
  EXPECT_EQ(ResolveReference(ref, Preset("resnet18"), 40)->resolution(), 32);

  ref.set_preset("mobilenetv2-1.0");
  absl::StatusOr<nas::v1::Architecture> mbv2 = ResolveReference(ref, Preset("mobilenetv2-1.0"), 28);
  ASSERT_TRUE(mbv2.ok()) << mbv2.status();
  EXPECT_NEAR(EstimateCost(*mbv2, FashionMnistInput()).params / 1e6, 2.24, 0.02);
  EXPECT_EQ(mbv2->head_width(), 1280);
}

// The network a user would ship may be of another family than the space searched: it is then
// a member of its own family, at that family's resolution nearest the images.
TEST(ReferenceTest, AReferenceOfAnotherFamilyIsItsOwnFamilysMember) {
  nas::v1::Reference ref;
  ref.set_preset("resnet18");
  const SearchSpaceDef mobilenet = Preset("mobilenetv2");
  absl::StatusOr<nas::v1::Architecture> r = ResolveReference(ref, mobilenet, 28);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->space(), "resnet18");
  EXPECT_EQ(r->resolution(), 28);
  EXPECT_EQ(EstimateCost(*r, FashionMnistInput()).params, 11172810);
  EXPECT_FALSE(InSearchSpace(*r, mobilenet));
  EXPECT_TRUE(InSearchSpace(*r, Preset("resnet18")));
  // Given as an architecture of that family, alike.
  nas::v1::Reference given;
  *given.mutable_architecture() = *r;
  absl::StatusOr<nas::v1::Architecture> again = ResolveReference(given, mobilenet, 28);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), r->SerializeAsString());
  // MobileNetV2 1.0 (expansion 1 first, head 1280) is not in the mobilenetv2 search space
  // either: its own family's.
  ref.set_preset("mobilenetv2-1.0");
  r = ResolveReference(ref, mobilenet, 28);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->space(), "mobilenetv2-1.0");
  EXPECT_FALSE(InSearchSpace(*r, mobilenet));
}

TEST(ReferenceTest, AReferenceThatCannotBeResolvedIsRefusedNamingTheField) {
  nas::v1::Reference ref;
  ref.set_preset("vgg16");
  EXPECT_NE(ResolveReference(ref, Preset("resnet18"), 28).status().message().find("not a preset"),
            std::string::npos);
  ref.Clear();
  EXPECT_FALSE(ResolveReference(ref, Preset("resnet18"), 28).ok());  // neither given
  // Of the search's own space, it must lie in it.
  nas::v1::Architecture arch = LargestArchitecture(Preset("resnet"));
  arch.mutable_stages(1)->set_width(1000);
  *ref.mutable_architecture() = arch;
  absl::StatusOr<nas::v1::Architecture> r = ResolveReference(ref, Preset("resnet"), 28);
  EXPECT_EQ(r.status().message().rfind("reference.architecture.stages[1].width", 0), 0u)
      << r.status();
  // Of another preset family, it must lie in that family.
  r = ResolveReference(ref, Preset("mobilenetv2"), 28);
  EXPECT_EQ(r.status().message().rfind("reference.architecture.stages[1].width", 0), 0u)
      << r.status();
  // Of no family known.
  ref.mutable_architecture()->set_space("my-net");
  r = ResolveReference(ref, Preset("mobilenetv2"), 28);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("reference.architecture.space: \"my-net\" is neither", 0),
            0u)
      << r.status();
}

TEST(ReferenceTest, RatiosAreReferenceOverCandidateAndDeltasCandidateMinusReference) {
  nas::v1::Candidate ref, c;
  ref.set_id(7);
  ref.mutable_metrics()->set_params(11'000'000);
  ref.mutable_metrics()->set_macs(456'000'000);
  ref.mutable_metrics()->set_model_bytes(44'000'000);
  ref.mutable_metrics()->set_int8_model_bytes(11'100'000);
  ref.mutable_metrics()->set_peak_activation_bytes(800'000);
  ref.mutable_metrics()->set_val_accuracy(0.94);
  ref.mutable_metrics()->set_test_accuracy(0.935);
  c.mutable_metrics()->set_params(500'000);
  c.mutable_metrics()->set_macs(76'000'000);
  c.mutable_metrics()->set_model_bytes(2'000'000);
  c.mutable_metrics()->set_int8_model_bytes(555'000);
  c.mutable_metrics()->set_peak_activation_bytes(200'000);
  c.mutable_metrics()->set_val_accuracy(0.933);
  c.mutable_metrics()->set_test_accuracy(-1);  // not a finished model
  for (auto* x : {&ref, &c}) {
    nas::v1::ProfileMetrics* pm = x->add_profile_metrics();
    pm->set_profile_id("host-cpu@1");
    pm->set_latency_ms(x == &ref ? 12.0 : 1.5);
  }
  const nas::v1::ReferenceComparison vs = CompareWithReference(c, ref);
  EXPECT_EQ(vs.reference_candidate_id(), 7);
  EXPECT_DOUBLE_EQ(vs.params_ratio(), 22);
  EXPECT_DOUBLE_EQ(vs.macs_ratio(), 6);
  EXPECT_DOUBLE_EQ(vs.model_bytes_ratio(), 22);
  EXPECT_DOUBLE_EQ(vs.int8_model_bytes_ratio(), 20);
  EXPECT_DOUBLE_EQ(vs.peak_activation_ratio(), 4);
  EXPECT_NEAR(vs.val_accuracy_delta(), -0.007, 1e-12);
  EXPECT_FALSE(vs.has_test_accuracy_delta());
  EXPECT_DOUBLE_EQ(vs.latency_ratio().at("host-cpu@1"), 8);
}

}  // namespace
}  // namespace nas
