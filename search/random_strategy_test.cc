#include "search/random_strategy.h"

#include "gtest/gtest.h"
#include "search/strategy.h"

namespace nas {
namespace {

SearchSpaceDef Space() {
  nas::v1::SearchSpace req;
  req.set_name("mobilenetv2");
  return *ResolveSearchSpace(req);
}

std::vector<std::string> Keys(const std::vector<nas::v1::Architecture>& archs) {
  std::vector<std::string> keys;
  for (const auto& a : archs) keys.push_back(CanonicalKey(a));
  return keys;
}

TEST(RandomStrategyTest, SameSeedSameProposalsOtherSeedOthers) {
  RandomStrategy a(Space(), 7), b(Space(), 7), c(Space(), 8);
  std::vector<std::string> ka = Keys(a.Propose(10));
  EXPECT_EQ(ka, Keys(b.Propose(10)));
  EXPECT_NE(ka, Keys(c.Propose(10)));
}

TEST(RandomStrategyTest, RestoredMidSearchProposesWhatTheOriginalWould) {
  RandomStrategy original(Space(), 11);
  original.Propose(13);
  const std::string saved = original.SaveState();
  RandomStrategy restored(Space(), 999);
  ASSERT_TRUE(restored.RestoreState(saved).ok());
  EXPECT_EQ(Keys(original.Propose(5)), Keys(restored.Propose(5)));
}

TEST(RandomStrategyTest, CorruptStateIsRejected) {
  RandomStrategy s(Space(), 1);
  EXPECT_EQ(s.RestoreState("evolution-v1 1 2 3").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.RestoreState("random-v1 x").code(), absl::StatusCode::kInvalidArgument);
}

TEST(MakeStrategyTest, UnknownNamesAndSettingsAreInvalidArgument) {
  nas::v1::Strategy spec;
  spec.set_name("simulated-annealing");
  absl::StatusOr<std::unique_ptr<SearchStrategy>> s = MakeStrategy(spec, Space());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("strategy.name"), std::string::npos);

  spec.set_name("random");
  (*spec.mutable_settings())["population"] = "10";
  s = MakeStrategy(spec, Space());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("strategy.settings[population]"), std::string::npos);

  spec.clear_settings();
  EXPECT_TRUE(MakeStrategy(spec, Space()).ok());
}

}  // namespace
}  // namespace nas
