#include "search/constrained_strategy.h"

#include "gtest/gtest.h"
#include "search/cost_model.h"
#include "search/hardware_profile.h"
#include "search/search_space.h"

namespace nas {
namespace {

nas::v1::SearchSpec Spec(const std::string& strategy) {
  nas::v1::SearchSpec spec;
  spec.set_dataset("fashion-mnist");
  spec.mutable_space()->set_name("mobilenetv2");
  spec.mutable_strategy()->set_name(strategy);
  spec.mutable_strategy()->set_seed(5);
  if (strategy != "random") (*spec.mutable_strategy()->mutable_settings())["population"] = "4";
  spec.add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec.add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
  return spec;
}

// A microcontroller: little SRAM, little flash, measured latency (unknown before training).
nas::v1::HardwareProfile Microcontroller() {
  nas::v1::HardwareProfile p;
  p.set_name("mcu");
  p.set_kind(nas::v1::PROFILE_KIND_MEASURED);
  p.set_device_tag("mcu");
  p.mutable_limits()->set_max_peak_activation_bytes(200 * 1024);
  p.mutable_limits()->set_max_model_bytes(400 * 1024);
  p.mutable_limits()->set_max_latency_ms(0.001);  // unknown before training: never counts
  return p;
}

nas::v1::HardwareProfile Unlimited() {
  nas::v1::HardwareProfile p;
  p.set_name("server");
  p.set_kind(nas::v1::PROFILE_KIND_MEASURED);
  p.set_device_tag("server");
  return p;
}

bool Fits(const nas::v1::Architecture& arch, const nas::v1::HardwareProfile& p,
          const nas::v1::SearchSpec& spec) {
  const ArchitectureCost c = EstimateCost(arch, FashionMnistInput());
  nas::v1::CandidateMetrics m;
  m.set_params(c.params);
  m.set_macs(c.macs);
  m.set_peak_activation_bytes(c.peak_activation_bytes);
  return !CertainlyInfeasible(p, m, spec.constraints());
}

TEST(ConstrainedStrategyTest, NeverProposesWhatCannotFitAndStillFillsTheBatch) {
  for (const std::string name : {"random", "evolution", "nsga2"}) {
    const nas::v1::SearchSpec spec = Spec(name);
    absl::StatusOr<std::unique_ptr<SearchStrategy>> wrapped =
        MakeSearchStrategy(spec, {Microcontroller()});
    ASSERT_TRUE(wrapped.ok()) << wrapped.status();
    auto* constrained = dynamic_cast<ConstrainedStrategy*>(wrapped->get());
    ASSERT_NE(constrained, nullptr) << name;
    const std::vector<nas::v1::Architecture> proposals = (*wrapped)->Propose(12);
    EXPECT_EQ(proposals.size(), 12u) << name;
    for (const auto& a : proposals) EXPECT_TRUE(Fits(a, Microcontroller(), spec)) << name;
    // The space is full of networks too big for it: the plain strategy proposes some.
    EXPECT_GT(constrained->dropped(), 0) << name;
    SearchSpaceDef space = *ResolveSearchSpace(spec.space());
    std::unique_ptr<SearchStrategy> plain = *MakeStrategy(spec.strategy(), space);
    int too_big = 0;
    for (const auto& a : plain->Propose(12)) too_big += !Fits(a, Microcontroller(), spec);
    EXPECT_GT(too_big, 0) << name;
  }
}

TEST(ConstrainedStrategyTest, OnlyWhatFailsEveryProfileIsDropped) {
  // Another profile without limits: every architecture may join its front.
  const nas::v1::SearchSpec spec = Spec("random");
  absl::StatusOr<std::unique_ptr<SearchStrategy>> s =
      MakeSearchStrategy(spec, {Microcontroller(), Unlimited()});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(dynamic_cast<ConstrainedStrategy*>(s->get()), nullptr);
  // Nor does an accuracy floor or a measured latency bound: unknown before training.
  nas::v1::SearchSpec floors = spec;
  floors.add_constraints()->set_metric(nas::v1::METRIC_ACCURACY);
  floors.mutable_constraints(0)->set_bound(0.99);
  floors.add_constraints()->set_metric(nas::v1::METRIC_LATENCY);
  floors.mutable_constraints(1)->set_bound(0.001);
  EXPECT_EQ(InfeasibleEverywhere(floors, {Unlimited()}), nullptr);
}

TEST(ConstrainedStrategyTest, ASearchConstraintOnParametersBindsOnEveryProfile) {
  nas::v1::SearchSpec spec = Spec("evolution");
  nas::v1::Constraint* c = spec.add_constraints();
  c->set_metric(nas::v1::METRIC_PARAMS);
  c->set_bound(30'000);
  absl::StatusOr<std::unique_ptr<SearchStrategy>> s = MakeSearchStrategy(spec, {Unlimited()});
  ASSERT_TRUE(s.ok());
  const std::vector<nas::v1::Architecture> proposals = (*s)->Propose(8);
  ASSERT_FALSE(proposals.empty());
  for (const auto& a : proposals) {
    EXPECT_LE(EstimateCost(a, FashionMnistInput()).params, 30'000);
  }
}

TEST(ConstrainedStrategyTest, RestoredMidSearchProposesWhatTheOriginalWould) {
  const nas::v1::SearchSpec spec = Spec("evolution");
  std::unique_ptr<SearchStrategy> original = *MakeSearchStrategy(spec, {Microcontroller()});
  std::vector<Observation> results;
  int64_t id = 0;
  for (const auto& a : original->Propose(6)) {
    Observation o;
    o.candidate_id = ++id;
    o.architecture = a;
    o.objectives = {-0.5 - 0.01 * static_cast<double>(id), static_cast<double>(id)};
    results.push_back(o);
  }
  original->Observe(results);
  std::unique_ptr<SearchStrategy> restored = *MakeSearchStrategy(spec, {Microcontroller()});
  ASSERT_TRUE(restored->RestoreState(original->SaveState()).ok());
  std::vector<std::string> a, b;
  for (const auto& x : original->Propose(5)) a.push_back(CanonicalKey(x));
  for (const auto& x : restored->Propose(5)) b.push_back(CanonicalKey(x));
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace nas
