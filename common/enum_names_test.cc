// The prefix comes off every enum of the API the same way; unknown numbers stay readable.
#include "common/enum_names.h"

#include "gtest/gtest.h"
#include "proto/nas.pb.h"
#include "proto/trainer_service.pb.h"

namespace nas {
namespace {

TEST(ShortEnumNameTest, DropsTheTypesPrefix) {
  EXPECT_EQ(ShortEnumName(nas::v1::SEARCH_STATE_RUNNING), "RUNNING");
  EXPECT_EQ(ShortEnumName(nas::v1::CANDIDATE_STATE_EVALUATED), "EVALUATED");
  EXPECT_EQ(ShortEnumName(nas::v1::LATENCY_SOURCE_MEASURED), "MEASURED");
  EXPECT_EQ(ShortEnumName(nas::v1::WORK_KIND_SUPERNET_EPOCH), "SUPERNET_EPOCH");
}

TEST(ShortEnumNameTest, AnUnknownNumberIsTheNumber) {
  EXPECT_EQ(ShortEnumName(static_cast<nas::v1::SearchState>(77)), "77");
}

}  // namespace
}  // namespace nas
