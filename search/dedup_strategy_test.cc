#include "search/dedup_strategy.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace nas {
namespace {

nas::v1::Architecture Arch(int resolution) {
  nas::v1::Architecture a;
  a.set_space("resnet");
  a.set_resolution(resolution);
  a.set_stem_width(8);
  a.add_stages()->set_width(8);
  a.mutable_stages(0)->add_blocks();
  return a;
}

// Proposes resolutions 20, 24, 28, 20, 24, 28, ... forever: a strategy that repeats itself.
class Cycling final : public SearchStrategy {
 public:
  std::vector<nas::v1::Architecture> Propose(int n) override {
    std::vector<nas::v1::Architecture> out;
    for (int i = 0; i < n; ++i) out.push_back(Arch(20 + 4 * (next_++ % 3)));
    return out;
  }
  void Observe(absl::Span<const Observation>) override {}
  std::string SaveState() const override { return absl::StrCat("cycling ", next_); }
  absl::Status RestoreState(absl::string_view state) override {
    if (!absl::ConsumePrefix(&state, "cycling ") || !absl::SimpleAtoi(state, &next_)) {
      return absl::InvalidArgumentError("cycling state");
    }
    return absl::OkStatus();
  }

 private:
  int next_ = 0;
};

TEST(DedupStrategyTest, OnlyUnseenNetworksAndGivesUpWhenTheInnerStrategyRepeatsItself) {
  DedupStrategy s(std::make_unique<Cycling>(), /*attempts=*/5);
  Observation seen;
  seen.architecture = Arch(24);
  s.Observe({seen});  // Evaluated elsewhere (e.g. an initial architecture): never proposed.
  const std::vector<nas::v1::Architecture> first = s.Propose(4);
  ASSERT_EQ(first.size(), 2u);  // Only 20 and 28 are new; it stops after 4 x 5 looks.
  EXPECT_EQ(first[0].resolution(), 20);
  EXPECT_EQ(first[1].resolution(), 28);
  EXPECT_TRUE(s.Propose(3).empty());
}

TEST(DedupStrategyTest, StateRoundTripsAndOlderStatesStillRestore) {
  DedupStrategy s(std::make_unique<Cycling>());
  ASSERT_EQ(s.Propose(1).size(), 1u);  // 20
  DedupStrategy restored(std::make_unique<Cycling>());
  ASSERT_TRUE(restored.RestoreState(s.SaveState()).ok());
  EXPECT_EQ(restored.SaveState(), s.SaveState());
  const auto a = s.Propose(2), b = restored.Propose(2);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(CanonicalKey(a[i]), CanonicalKey(b[i]));

  // A state saved before the wrapper existed is the inner strategy's alone.
  DedupStrategy legacy(std::make_unique<Cycling>());
  ASSERT_TRUE(legacy.RestoreState("cycling 1").ok());
  EXPECT_EQ(legacy.Propose(1)[0].resolution(), 24);
  EXPECT_EQ(legacy.RestoreState("dedup-v1 3\nonly-one-key\n").code(),
            absl::StatusCode::kInvalidArgument);
  // A dedup-v1 state (seen keys saved in it) still restores them.
  DedupStrategy v1(std::make_unique<Cycling>(), /*attempts=*/5);
  ASSERT_TRUE(
      v1.RestoreState(absl::StrCat("dedup-v1 1\n", CanonicalKey(Arch(24)), "\ncycling 0")).ok());
  const auto after_v1 = v1.Propose(3);
  ASSERT_EQ(after_v1.size(), 2u);  // 20 and 28: 24 was seen
  EXPECT_EQ(after_v1[0].resolution(), 20);
  EXPECT_EQ(after_v1[1].resolution(), 28);
}

// What the search holds is told (Remember), not saved: the state does not grow with the
// search, and a restored strategy told the search's candidates proposes what the original
// would have.
TEST(DedupStrategyTest, TheSavedStateDoesNotGrowAndRememberedNetworksAreNotProposed) {
  DedupStrategy s(std::make_unique<Cycling>(), /*attempts=*/5);
  const std::string empty = s.SaveState();
  const std::vector<nas::v1::Architecture> first = s.Propose(2);  // 20, 24
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(s.SaveState().size(), empty.size()) << "the seen networks were saved";

  DedupStrategy restored(std::make_unique<Cycling>(), /*attempts=*/5);
  ASSERT_TRUE(restored.RestoreState(s.SaveState()).ok());
  restored.Remember({ArchitectureHash(first[0]), ArchitectureHash(first[1])});
  const auto a = s.Propose(3), b = restored.Propose(3);
  ASSERT_EQ(a.size(), 1u);  // 28 only
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(CanonicalKey(a[0]), CanonicalKey(b[0]));

  // Without being told, the restored copy would repeat what the search holds.
  DedupStrategy untold(std::make_unique<Cycling>(), /*attempts=*/5);
  ASSERT_TRUE(untold.RestoreState(empty).ok());
  EXPECT_EQ(untold.Propose(1)[0].resolution(), 20);
}

}  // namespace
}  // namespace nas
