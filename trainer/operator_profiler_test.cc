#include "trainer/operator_profiler.h"

#include <torch/torch.h>

#include <cmath>
#include <random>
#include <set>

#include "gtest/gtest.h"
#include "search/latency_table.h"

namespace nas {
namespace {

TEST(OperatorProfilerTest, TrimmedTimingDropsTheOutermostTenthOnEachSide) {
  // 1..9 and an outlier of 100 ms: the middle 80% is 2..9.
  const Timing t = TrimmedTiming({5, 1, 100, 3, 2, 4, 6, 7, 8, 9});
  EXPECT_DOUBLE_EQ(t.mean_ms, 5.5);
  EXPECT_DOUBLE_EQ(t.variance_ms2, 6.0);  // sample variance of 2..9
  EXPECT_EQ(t.runs, 10);
}

// A small space: kernel 3, expansion 1 or 3, no squeeze-excite, one resolution, half widths.
SearchSpaceDef SmallSpace() {
  nas::v1::SearchSpace req;
  req.set_name("mobilenetv2");
  req.add_kernels(3);
  req.add_expansions(1);
  req.add_expansions(3);
  req.add_resolutions(20);
  req.add_width_multipliers_percent(50);
  req.set_allow_squeeze_excite(false);
  req.set_max_depth(2);
  return *ResolveSearchSpace(req);
}

TEST(OperatorProfilerTest, ATableCoversItsSpaceAndPredictsEveryNetworkOfIt) {
  const SearchSpaceDef space = SmallSpace();
  const InputShape input = FashionMnistInput();
  const std::vector<LatencyOp> ops = SpaceOperators(space, input);
  ProfilerOptions options;
  options.warmup = 1;
  options.runs = 5;
  int calls = 0;
  absl::StatusOr<nas::v1::LatencyTable> table =
      ProfileOperators(ops, input, options, [&](int done, int total) {
        EXPECT_EQ(done, ++calls);
        EXPECT_EQ(total, static_cast<int>(ops.size()));
      });
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(calls, static_cast<int>(ops.size()));
  EXPECT_EQ(table->threads(), 1);
  EXPECT_FALSE(table->device_description().empty());
  std::set<std::string> keys;
  for (const nas::v1::LutEntry& e : table->entries()) {
    EXPECT_GT(e.mean_ms(), 0) << e.key();
    EXPECT_GE(e.variance_ms2(), 0) << e.key();
    EXPECT_EQ(e.count(), 5);
    keys.insert(e.key());
  }
  EXPECT_EQ(keys.size(), ops.size());
  std::mt19937_64 rng(4);
  for (int i = 0; i < 20; ++i) {
    const nas::v1::Architecture arch = SampleArchitecture(space, rng);
    absl::StatusOr<double> ms = PredictLatencyMs(*table, arch, input);
    ASSERT_TRUE(ms.ok()) << ms.status();
    EXPECT_GT(*ms, 0);
  }
  absl::StatusOr<double> overhead = FitOverhead(*table, space, input, options, 3);
  ASSERT_TRUE(overhead.ok()) << overhead.status();
  EXPECT_TRUE(std::isfinite(*overhead));
  // What nas-profile writes reads back.
  table->set_overhead_ms(*overhead);
  absl::StatusOr<nas::v1::LatencyTable> back = ParseLatencyTable(FormatLatencyTable(*table));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->entries_size(), table->entries_size());
}

TEST(OperatorProfilerTest, EveryOperatorKindBuildsAndRuns) {
  // One of each kind, ResNet's too: a wrong shape would throw inside LibTorch.
  nas::v1::SearchSpace req;
  req.set_name("resnet");
  req.add_resolutions(20);
  req.add_width_multipliers_percent(50);
  req.set_max_depth(2);
  ProfilerOptions options;
  options.warmup = 0;
  options.runs = 3;
  std::set<LatencyOp::Kind> kinds;
  for (const LatencyOp& op : SpaceOperators(*ResolveSearchSpace(req), FashionMnistInput())) {
    EXPECT_NO_THROW(TimeOperator(op, FashionMnistInput(), options)) << op.Key();
    kinds.insert(op.kind);
  }
  EXPECT_EQ(kinds.size(), 4u);  // input, stem, basic, head
}

// Every block type of a user's space, and its head convolution, builds and runs as an operator,
// and the table of the space predicts every network of it (no operator missing).
TEST(OperatorProfilerTest, EveryBlockTypeOfAUsersSpaceIsAnOperator) {
  nas::v1::SearchSpace req;
  req.set_name("mine");
  req.add_resolutions(16);
  req.add_stem_widths(8);
  req.add_head_widths(0);
  req.add_head_widths(24);
  int stride = 1;
  for (nas::v1::BlockType type :
       {nas::v1::CONV, nas::v1::BASIC_RESIDUAL, nas::v1::BOTTLENECK_RESIDUAL,
        nas::v1::DEPTHWISE_SEPARABLE, nas::v1::INVERTED_RESIDUAL}) {
    nas::v1::StageSpace* s = req.add_stages();
    s->set_stride(stride);
    s->add_widths(16);
    s->set_max_depth(2);
    s->add_block_types(type);
    stride = 3 - stride;  // 1, 2, 1, 2, 1
  }
  const SearchSpaceDef space = *ResolveSearchSpace(req);
  ProfilerOptions options;
  options.warmup = 0;
  options.runs = 2;
  nas::v1::LatencyTable table;
  std::set<std::string> prefixes;
  for (const LatencyOp& op : SpaceOperators(space, FashionMnistInput())) {
    EXPECT_NO_THROW(TimeOperator(op, FashionMnistInput(), options)) << op.Key();
    prefixes.insert(op.Key().substr(0, op.Key().find(':')));
    nas::v1::LutEntry* e = table.add_entries();
    e->set_key(op.Key());
    e->set_mean_ms(1);
  }
  EXPECT_EQ(prefixes, (std::set<std::string>{"basic", "bottleneck", "conv", "dwsep", "head",
                                             "headconv", "input", "mbconv", "stem"}));
  std::mt19937_64 rng(4);
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(PredictLatencyMs(table, SampleArchitecture(space, rng), FashionMnistInput()).ok());
  }
}

}  // namespace
}  // namespace nas
