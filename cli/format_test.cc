#include "cli/format.h"

#include "gtest/gtest.h"

namespace nas::cli {
namespace {

TEST(ParseConstraintTest, ReadsAFloorForAccuracyAndACeilingForTheRest) {
  absl::StatusOr<nas::v1::Constraint> drop = ParseConstraint("accuracy_drop<=1");
  ASSERT_TRUE(drop.ok()) << drop.status();
  EXPECT_EQ(drop->metric(), nas::v1::METRIC_ACCURACY_DROP);
  EXPECT_EQ(drop->bound(), 1);
  absl::StatusOr<nas::v1::Constraint> floor = ParseConstraint(" accuracy >= 0.9");
  ASSERT_TRUE(floor.ok()) << floor.status();
  EXPECT_EQ(floor->metric(), nas::v1::METRIC_ACCURACY);
  EXPECT_EQ(floor->bound(), 0.9);
  absl::StatusOr<nas::v1::Constraint> bytes = ParseConstraint("int8_bytes<=1048576");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->metric(), nas::v1::METRIC_INT8_MODEL_BYTES);
}

TEST(ParseConstraintTest, SaysWhatIsWrong) {
  const auto message = [](absl::string_view text) {
    return std::string(ParseConstraint(text).status().message());
  };
  EXPECT_EQ(message("accuracy<=0.9"), "--constraints: accuracy takes a floor (>=)");
  EXPECT_EQ(message("params>=10"), "--constraints: params takes a ceiling (<=)");
  EXPECT_EQ(message("params=10"),
            "--constraints: \"params=10\" is not METRIC<=BOUND or METRIC>=BOUND");
  EXPECT_EQ(message("params<=ten"), "--constraints: \"params<=ten\": the bound is not a number");
  EXPECT_NE(message("speed<=1").find("unknown metric \"speed\""), std::string::npos);
}

}  // namespace
}  // namespace nas::cli
