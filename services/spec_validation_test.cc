// Spec validation without a controller or a database: defaults, the field each error names,
// and metrics and their bounds from the registry (search/objectives.h).
#include "services/spec_validation.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace nas {
namespace {

nas::v1::SearchSpec Minimal() {
  nas::v1::SearchSpec spec;
  spec.add_profile_ids("host-cpu");
  spec.mutable_budget()->set_max_candidates(4);
  return spec;
}

std::string Error(const nas::v1::SearchSpec& spec) {
  const absl::StatusOr<nas::v1::SearchSpec> n = NormalizeSearchSpec(spec);
  EXPECT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(n.status().message());
}

TEST(SpecValidationTest, FillsDefaults) {
  const absl::StatusOr<nas::v1::SearchSpec> n = NormalizeSearchSpec(Minimal());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->dataset(), "fashion-mnist");
  EXPECT_EQ(n->space().name(), "mobilenetv2");
  EXPECT_EQ(n->strategy().name(), "random");
  EXPECT_EQ(n->strategy().seed(), 1u);
  ASSERT_EQ(n->objectives_size(), 2);
  EXPECT_EQ(n->objectives(0).metric(), nas::v1::METRIC_ACCURACY);
  EXPECT_EQ(n->objectives(1).metric(), nas::v1::METRIC_LATENCY);
  EXPECT_EQ(n->budget().max_parallel(), 8);
  EXPECT_EQ(n->budget().max_attempts(), 3);
}

TEST(SpecValidationTest, NamesTheOffendingObjective) {
  nas::v1::SearchSpec spec = Minimal();
  spec.add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec.add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  EXPECT_EQ(Error(spec), "spec.objectives[1].metric: accuracy is already an objective");
  spec.mutable_objectives(1)->set_metric(static_cast<nas::v1::Metric>(99));
  EXPECT_EQ(Error(spec), "spec.objectives[1].metric: must name a metric");
  spec.mutable_objectives(1)->set_metric(nas::v1::METRIC_INT8_MODEL_BYTES);
  EXPECT_TRUE(NormalizeSearchSpec(spec).ok());
}

TEST(SpecValidationTest, ChecksBoundsByTheRegistry) {
  nas::v1::SearchSpec spec = Minimal();
  nas::v1::Constraint* c = spec.add_constraints();
  c->set_metric(nas::v1::METRIC_ACCURACY);
  c->set_bound(1.5);
  EXPECT_EQ(Error(spec), "spec.constraints[0].bound: a bound on accuracy lies in [0, 1]");
  c->set_bound(-1);
  EXPECT_EQ(Error(spec), "spec.constraints[0].bound: must be >= 0");
  c->set_metric(nas::v1::METRIC_LATENCY);
  c->set_bound(std::nan(""));
  EXPECT_EQ(Error(spec), "spec.constraints[0].bound: must be >= 0");
  c->set_bound(2.5);
  EXPECT_TRUE(NormalizeSearchSpec(spec).ok());
  nas::v1::Constraint* twice = spec.add_constraints();
  twice->set_metric(nas::v1::METRIC_LATENCY);
  twice->set_bound(3);
  EXPECT_EQ(Error(spec), "spec.constraints[1]: a second bound on latency_ms");
}

TEST(SpecValidationTest, NamesBudgetAndSpaceFields) {
  nas::v1::SearchSpec spec = Minimal();
  spec.mutable_budget()->set_max_candidates(0);
  EXPECT_EQ(Error(spec), "spec.budget.max_candidates: 0 is outside 1 to 1000000");
  spec = Minimal();
  spec.mutable_space()->set_name("transformer");
  EXPECT_NE(Error(spec).find("spec.space.name"), std::string::npos);
}

TEST(SpecValidationTest, AWarmStartIsCheckedAndDefaulted) {
  nas::v1::SearchSpec spec = Minimal();
  spec.mutable_warm_start()->set_search_id(7);
  absl::StatusOr<nas::v1::SearchSpec> n = NormalizeSearchSpec(spec);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->warm_start().seeds(), "front");
  spec.mutable_warm_start()->set_search_id(0);
  EXPECT_EQ(Error(spec), "spec.warm_start.search_id: must name a search (>= 1)");
  spec.mutable_warm_start()->set_search_id(7);
  spec.mutable_warm_start()->set_seeds("best");
  EXPECT_EQ(Error(spec), "spec.warm_start.seeds: \"best\" is neither \"front\" nor \"all\"");
  spec.mutable_warm_start()->set_seeds("all");
  spec.mutable_warm_start()->set_max_seeds(5);  // the budget is 4
  EXPECT_EQ(Error(spec), "spec.warm_start.max_seeds: 5 is outside 0 to 4");
  spec.mutable_warm_start()->set_max_seeds(0);
  spec.mutable_strategy()->set_name("weight_sharing");
  EXPECT_NE(Error(spec).find("spec.warm_start: not taken by weight-sharing searches"),
            std::string::npos);
}

// The specs users are pointed to (deploy/examples) and that the benchmarks submit stay valid.
TEST(SpecValidationTest, EveryExampleAndBenchmarkSpecIsValid) {
  for (const std::string path :
       {"deploy/examples/search.textproto", "deploy/examples/my-space.textproto",
        "tests/benchmarks/int8_search.textproto",
        "tests/benchmarks/compression/resnet18_search.textproto"}) {
    std::ifstream in(path);
    ASSERT_TRUE(in) << path;
    std::stringstream text;
    text << in.rdbuf();
    nas::v1::SearchSpec spec;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text.str(), &spec)) << path;
    const absl::StatusOr<nas::v1::SearchSpec> n = NormalizeSearchSpec(spec);
    EXPECT_TRUE(n.ok()) << path << ": " << n.status();
  }
  // The compression benchmark's reference is ResNet-18, in its space.
  std::ifstream in("tests/benchmarks/compression/resnet18_search.textproto");
  std::stringstream text;
  text << in.rdbuf();
  nas::v1::SearchSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text.str(), &spec));
  const absl::StatusOr<nas::v1::SearchSpec> n = NormalizeSearchSpec(spec);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->reference().architecture().stem_width(), 64);
  EXPECT_EQ(n->reference().architecture().stages(3).width(), 512);
  EXPECT_EQ(n->reference().architecture().resolution(), 28);
}

}  // namespace
}  // namespace nas
