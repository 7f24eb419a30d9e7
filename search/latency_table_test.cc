#include "search/latency_table.h"

#include <map>
#include <random>
#include <set>

#include "gtest/gtest.h"

namespace nas {
namespace {

SearchSpaceDef Space(const std::string& name) {
  nas::v1::SearchSpace req;
  req.set_name(name);
  return *ResolveSearchSpace(req);
}

TEST(LatencyTableTest, EveryNetworkOfASpaceIsMadeOfItsEnumeratedOperators) {
  for (const std::string name : {"mobilenetv2", "resnet"}) {
    const SearchSpaceDef space = Space(name);
    std::set<std::string> keys;
    for (const LatencyOp& op : SpaceOperators(space, FashionMnistInput())) keys.insert(op.Key());
    std::mt19937_64 rng(3);
    for (int i = 0; i < 300; ++i) {
      const nas::v1::Architecture arch = SampleArchitecture(space, rng);
      for (const LatencyOp& op : NetworkOperators(arch, FashionMnistInput())) {
        ASSERT_TRUE(keys.count(op.Key())) << name << ": " << op.Key() << " not enumerated";
      }
    }
  }
}

TEST(LatencyTableTest, ANarrowedSpaceHasFewerOperators) {
  nas::v1::SearchSpace req;
  req.set_name("mobilenetv2");
  req.add_kernels(3);
  req.add_resolutions(28);
  const size_t narrow = SpaceOperators(*ResolveSearchSpace(req), FashionMnistInput()).size();
  const size_t full = SpaceOperators(Space("mobilenetv2"), FashionMnistInput()).size();
  EXPECT_LT(narrow * 8, full);
  EXPECT_GT(narrow, 0u);
}

TEST(LatencyTableTest, OperatorsFollowTheNetworkAndItsStrides) {
  nas::v1::Architecture a;
  a.set_space("mobilenetv2");
  a.set_resolution(24);
  a.set_stem_width(8);
  for (int width : {8, 16}) {
    nas::v1::Stage* s = a.add_stages();
    s->set_width(width);
    for (int i = 0; i < 2; ++i) {
      nas::v1::Block* b = s->add_blocks();
      b->set_kernel(5);
      b->set_expansion(6);
      b->set_squeeze_excite(i == 1);
    }
  }
  std::vector<std::string> keys;
  for (const LatencyOp& op : NetworkOperators(a, FashionMnistInput())) keys.push_back(op.Key());
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "input:c1:h28:w28:r24", "stem:mobilenetv2:c1:out8:r24",
                      "mbconv:k5:e6:se0:in8:out8:s1:r24", "mbconv:k5:e6:se1:in8:out8:s1:r24",
                      "mbconv:k5:e6:se0:in8:out16:s2:r24", "mbconv:k5:e6:se1:in16:out16:s1:r12",
                      "head:in16:cls10:r12"}));
}

nas::v1::LatencyTable TableFor(const nas::v1::Architecture& arch) {
  nas::v1::LatencyTable t;
  t.set_overhead_ms(0.25);
  t.set_threads(1);
  t.set_device_description("test cpu @ 2.0GHz");
  double ms = 1;
  std::set<std::string> keys;
  for (const LatencyOp& op : NetworkOperators(arch, FashionMnistInput())) {
    if (!keys.insert(op.Key()).second) continue;  // a repeated block
    nas::v1::LutEntry* e = t.add_entries();
    e->set_key(op.Key());
    e->set_mean_ms(ms);
    e->set_variance_ms2(0.01);
    e->set_count(30);
    ms *= 2;
  }
  return t;
}

TEST(LatencyTableTest, PredictionIsTheSumPlusOverheadAndAMissingOperatorIsNamed) {
  std::mt19937_64 rng(1);
  const nas::v1::Architecture arch = SampleArchitecture(Space("resnet"), rng);
  const nas::v1::LatencyTable table = TableFor(arch);
  std::map<std::string, double> mean;
  for (const nas::v1::LutEntry& e : table.entries()) mean[e.key()] = e.mean_ms();
  double expected = 0.25;  // the overhead, then each operator as often as it runs
  for (const LatencyOp& op : NetworkOperators(arch, FashionMnistInput()))
    expected += mean[op.Key()];
  absl::StatusOr<double> ms = PredictLatencyMs(table, arch, FashionMnistInput());
  ASSERT_TRUE(ms.ok()) << ms.status();
  EXPECT_DOUBLE_EQ(*ms, expected);
  nas::v1::LatencyTable partial = table;
  partial.mutable_entries()->RemoveLast();
  absl::StatusOr<double> missing = PredictLatencyMs(partial, arch, FashionMnistInput());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("head:in"), std::string::npos) << missing.status();
}

TEST(LatencyTableTest, TextRoundTripsExactly) {
  std::mt19937_64 rng(2);
  const nas::v1::LatencyTable table = TableFor(SampleArchitecture(Space("mobilenetv2"), rng));
  absl::StatusOr<nas::v1::LatencyTable> back = ParseLatencyTable(FormatLatencyTable(table));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), table.SerializeAsString());
}

TEST(LatencyTableTest, MalformedTablesAreRejectedNamingTheLine) {
  const std::string head = "# comment\ndevice some cpu\nthreads 1\n";
  struct Case {
    std::string text;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {head + "op a 1 0 3\nop b 1 0\n",
            "line 5: expected 'op KEY MEAN_MS VARIANCE_MS2 COUNT'"},
           {head + "op a -1 0 3\n", "line 4: mean_ms \"-1\""},
           {head + "op a nan 0 3\n", "line 4: mean_ms \"nan\""},
           {head + "op a 1 x 3\n", "line 4: variance_ms2 \"x\""},
           {head + "op a 1 0 0\n", "line 4: count \"0\""},
           {head + "op a 1 0 3\n\nop a 2 0 3\n", "line 6: duplicate key a (first on line 4)"},
           {head + "threads zero\n", "line 4: expected 'threads N'"},
           {head + "overhead_ms inf\n", "line 4: expected 'overhead_ms MS'"},
           {head + "latency 3\n", "line 4: unknown field \"latency\""},
           {head, "no 'op' lines"},
       }) {
    absl::StatusOr<nas::v1::LatencyTable> t = ParseLatencyTable(c.text);
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.expected), std::string::npos)
        << t.status() << " should contain " << c.expected;
  }
  // Tabs work as separators too.
  absl::StatusOr<nas::v1::LatencyTable> tabs = ParseLatencyTable("op\ta\t1.5\t0.1\t4\n");
  ASSERT_TRUE(tabs.ok()) << tabs.status();
  EXPECT_DOUBLE_EQ(tabs->entries(0).mean_ms(), 1.5);
}

}  // namespace
}  // namespace nas
