#include "common/controller_address.h"

#include "gtest/gtest.h"

namespace nas {
namespace {

TEST(ControllerTargetTest, OneAddressOrAGrpcTargetIsUsedAsWritten) {
  EXPECT_EQ(*ControllerTarget("127.0.0.1:50051"), "127.0.0.1:50051");
  EXPECT_EQ(*ControllerTarget(" nas-controller:50051 "), "nas-controller:50051");
  EXPECT_EQ(*ControllerTarget("dns:///nas-controller.nas.svc:50051"),
            "dns:///nas-controller.nas.svc:50051");
  EXPECT_EQ(*ControllerTarget("ipv4:127.0.0.1:1,127.0.0.1:2"), "ipv4:127.0.0.1:1,127.0.0.1:2");
}

TEST(ControllerTargetTest, SeveralAddressesBecomeOneTargetOfEveryReplica) {
  EXPECT_EQ(*ControllerTarget("127.0.0.1:50051,127.0.0.2:50052"),
            "ipv4:127.0.0.1:50051,127.0.0.2:50052");
  EXPECT_EQ(*ControllerTarget("localhost:1, 127.0.0.1:2"), "ipv4:127.0.0.1:1,127.0.0.1:2");
}

TEST(ControllerTargetTest, SaysWhichEntryIsWrong) {
  EXPECT_EQ(ControllerTarget("127.0.0.1:1,127.0.0.1").status().message(),
            "controller address \"127.0.0.1\": not HOST:PORT");
  EXPECT_EQ(ControllerTarget("127.0.0.1:1,127.0.0.1:99999").status().message(),
            "controller address \"127.0.0.1:99999\": not HOST:PORT");
  EXPECT_NE(ControllerTarget("127.0.0.1:1,[::1]:2").status().message().find("IPv6"),
            absl::string_view::npos);
  EXPECT_NE(ControllerTarget("127.0.0.1:1,no-such-host.invalid:2")
                .status()
                .message()
                .find("no-such-host.invalid"),
            absl::string_view::npos);
  EXPECT_FALSE(ControllerTarget("").ok());
}

}  // namespace
}  // namespace nas
