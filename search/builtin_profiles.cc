#include "search/builtin_profiles.h"

namespace nas {

using nas::v1::HardwareProfile;

std::vector<HardwareProfile> BuiltinProfiles() {
  std::vector<HardwareProfile> out;
  {
    HardwareProfile p;
    p.set_name("host-cpu");
    p.set_kind(nas::v1::PROFILE_KIND_MEASURED);
    p.set_device_tag("host-cpu");
    p.set_weight_type(nas::v1::WEIGHT_TYPE_FP32);
    p.set_description(
        "The CPU the trainer workers run on: latency is measured by workers started with "
        "--device_tag=host-cpu (batch 1, median of repeated runs).");
    out.push_back(p);
  }
  {
    HardwareProfile p;
    p.set_name("rpi4-cortex-a72");
    p.set_kind(nas::v1::PROFILE_KIND_ROOFLINE);
    p.set_weight_type(nas::v1::WEIGHT_TYPE_FP32);
    nas::v1::RooflineModel* r = p.mutable_roofline();
    r->set_peak_macs_per_second(48e9);
    r->set_memory_bytes_per_second(4e9);
    r->set_overhead_ms(0.2);
    r->set_source(
        "Raspberry Pi 4 (BCM2711): 4x Cortex-A72 at 1.5 GHz; each core issues two 128-bit NEON "
        "FMA per cycle = 8 fp32 MAC/cycle (Arm Cortex-A72 Software Optimization Guide), so "
        "48 GMAC/s peak. LPDDR4-3200 on a 32-bit bus peaks at 12.8 GB/s; 4 GB/s is assumed "
        "sustained. Modelled, not measured.");
    p.set_description("Raspberry Pi 4 class board, fp32, roofline model.");
    out.push_back(p);
  }
  {
    HardwareProfile p;
    p.set_name("cortex-m7");
    p.set_kind(nas::v1::PROFILE_KIND_ROOFLINE);
    p.set_weight_type(nas::v1::WEIGHT_TYPE_INT8);
    p.mutable_limits()->set_max_model_bytes(1024 * 1024);
    p.mutable_limits()->set_max_peak_activation_bytes(320 * 1024);
    nas::v1::RooflineModel* r = p.mutable_roofline();
    r->set_peak_macs_per_second(0.96e9);
    r->set_memory_bytes_per_second(1.92e9);
    r->set_overhead_ms(0.0);
    r->set_source(
        "STM32H7-class Cortex-M7 at 480 MHz: SMLAD does 2 int8 MAC/cycle (Armv7E-M DSP "
        "extension) = 0.96 GMAC/s peak; 32-bit SRAM access per cycle = 1.92 GB/s. Limits: "
        "1 MB flash, 320 KB SRAM (as in MCUNet, Lin et al. 2020). Modelled, not measured.");
    p.set_description("Cortex-M7 microcontroller, int8, 1 MB flash, 320 KB SRAM.");
    out.push_back(p);
  }
  {
    HardwareProfile p;
    p.set_name("jetson-nano");
    p.set_kind(nas::v1::PROFILE_KIND_ROOFLINE);
    p.set_weight_type(nas::v1::WEIGHT_TYPE_FP32);
    nas::v1::RooflineModel* r = p.mutable_roofline();
    r->set_peak_macs_per_second(118e9);
    r->set_memory_bytes_per_second(15e9);
    r->set_overhead_ms(1.0);
    r->set_source(
        "Jetson Nano: 128-core Maxwell GPU at 921.6 MHz, one fp32 FMA per core per cycle = "
        "118 GMAC/s (NVIDIA quotes 472 GFLOPS at fp16, twice the fp32 rate). 64-bit LPDDR4 at "
        "1600 MHz peaks at 25.6 GB/s, shared with the CPU; 15 GB/s is assumed sustained. "
        "Batch-1 inference of a small network is bound by kernel launches: 1 ms assumed per "
        "inference. Modelled, not measured.");
    p.set_description("Jetson Nano class board (GPU, fp32), roofline model.");
    out.push_back(p);
  }
  return out;
}

}  // namespace nas
