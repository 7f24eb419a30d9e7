#include "common/work_kind.h"

#include "gtest/gtest.h"

namespace nas {
namespace {

TEST(WorkKindTest, DerivedFromTheLeaseWhenNotSet) {
  nas::v1::LeaseWorkResponse lease;
  EXPECT_EQ(WorkKindOf(lease), nas::v1::WORK_KIND_TRAIN);
  lease.mutable_fidelity()->set_supernet_estimate(true);
  EXPECT_EQ(WorkKindOf(lease), nas::v1::WORK_KIND_ESTIMATE);
  lease.mutable_fidelity()->Clear();
  lease.mutable_supernet()->set_epoch(2);
  EXPECT_EQ(WorkKindOf(lease), nas::v1::WORK_KIND_SUPERNET_EPOCH);
  lease.mutable_supernet()->set_world_size(2);
  EXPECT_EQ(WorkKindOf(lease), nas::v1::WORK_KIND_SUPERNET_EPOCH);  // rank 0
  lease.mutable_supernet()->set_rank(1);
  EXPECT_EQ(WorkKindOf(lease), nas::v1::WORK_KIND_GANG_MEMBER);
  nas::v1::LeaseWorkResponse measure;
  measure.set_measure_only(true);
  EXPECT_EQ(WorkKindOf(measure), nas::v1::WORK_KIND_MEASURE);
}

TEST(WorkKindTest, AnExplicitKindWins) {
  nas::v1::LeaseWorkResponse lease;
  lease.set_measure_only(true);
  lease.set_kind(nas::v1::WORK_KIND_TRAIN);
  EXPECT_EQ(WorkKindOf(lease), nas::v1::WORK_KIND_TRAIN);
}

TEST(WorkKindTest, NamesRoundTrip) {
  for (nas::v1::WorkKind k :
       {nas::v1::WORK_KIND_TRAIN, nas::v1::WORK_KIND_ESTIMATE, nas::v1::WORK_KIND_MEASURE,
        nas::v1::WORK_KIND_SUPERNET_EPOCH, nas::v1::WORK_KIND_GANG_MEMBER}) {
    EXPECT_EQ(ParseWorkKind(WorkKindName(k)), k);
  }
  EXPECT_EQ(WorkKindName(nas::v1::WORK_KIND_SUPERNET_EPOCH), "SUPERNET_EPOCH");
  EXPECT_EQ(ParseWorkKind("NAP"), nas::v1::WORK_KIND_UNSPECIFIED);
}

}  // namespace
}  // namespace nas
