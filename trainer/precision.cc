#include "trainer/precision.h"

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>

namespace nas {
namespace {

// -1: not set (follow the CPU); else a Precision.
std::atomic<int> auto_override{-1};

bool ReadCpuHasBf16() {
#if defined(__x86_64__) || defined(__i386__)
  // GCC's __builtin_cpu_supports knows "avx512bf16" but not AMX; /proc/cpuinfo names both.
  if (__builtin_cpu_supports("avx512bf16")) return true;
#endif
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    // x86 lists "flags", Arm "Features"; one CPU's line says it for all of them.
    if (line.rfind("flags", 0) != 0 && line.rfind("Features", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string w;
    while (words >> w) {
      if (w == "avx512_bf16" || w == "amx_bf16" || w == "bf16") return true;
    }
    return false;
  }
  return false;
}

}  // namespace

const char* PrecisionName(Precision precision) {
  return precision == Precision::kBf16 ? "bf16" : "fp32";
}

bool CpuHasBf16() {
  static const bool has = ReadCpuHasBf16();
  return has;
}

Precision AutoPrecision() {
  const int set = auto_override.load();
  if (set >= 0) return static_cast<Precision>(set);
  return CpuHasBf16() ? Precision::kBf16 : Precision::kFp32;
}

void SetAutoPrecision(Precision precision) { auto_override.store(static_cast<int>(precision)); }

bool Bf16Pays(int64_t macs, double macs_per_output_element) {
  return macs >= 10'000'000 && macs_per_output_element >= 40;
}

Precision ResolvePrecision(nas::v1::Precision requested, int64_t macs,
                           double macs_per_output_element) {
  switch (requested) {
    case nas::v1::PRECISION_FP32:
      return Precision::kFp32;
    case nas::v1::PRECISION_BF16:
      return Precision::kBf16;
    default:
      return AutoPrecision() == Precision::kBf16 && Bf16Pays(macs, macs_per_output_element)
                 ? Precision::kBf16
                 : Precision::kFp32;
  }
}

}  // namespace nas
