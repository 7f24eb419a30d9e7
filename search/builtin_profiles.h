// The hardware profiles every installation starts with, as data beside the cost models that
// read them (search/hardware_profile.h): the host CPU (measured by workers), a Raspberry Pi 4,
// a Cortex-M7 microcontroller and a Jetson Nano (roofline models whose figures cite their
// sources). The store seeds them at start (services/store/profiles.cc).
#ifndef NAS_SEARCH_BUILTIN_PROFILES_H_
#define NAS_SEARCH_BUILTIN_PROFILES_H_

#include <vector>

#include "proto/nas.pb.h"

namespace nas {

// BuiltinProfiles() returns the built-in profiles, version 1 of each.
std::vector<nas::v1::HardwareProfile> BuiltinProfiles();

}  // namespace nas

#endif  // NAS_SEARCH_BUILTIN_PROFILES_H_
