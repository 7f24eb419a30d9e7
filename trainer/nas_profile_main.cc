// nas-profile: builds a latency lookup table for a search space on the device it runs on. It
// needs only LibTorch (no controller, no database): copy it to the board, run it, bring the
// table back and register it (nasctl profiles register --lut=TABLE --name=NAME).
//
//   nas-profile --space=mobilenetv2 --out=my-board.lut            # every operator of the space
//   nas-profile --space_spec=my-space.textproto --threads=4 --out=t.lut   # a preset narrowed,
//                                                                           # or your own space
//
// It measures every operator any architecture of the (narrowed) space can contain (warm-up,
// repeats, trimmed mean and variance), records the CPU and threads, then fits the
// per-inference overhead on whole random networks. Progress goes to stderr.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_format.h"
#include "common/command_line.h"
#include "google/protobuf/text_format.h"
#include "search/latency_table.h"
#include "trainer/operator_profiler.h"

ABSL_FLAG(std::string, space, "mobilenetv2",
          "Preset search space (mobilenetv2, resnet, resnet18, mobilenetv2-1.0)");
ABSL_FLAG(std::string, space_spec, "",
          "A SearchSpace text proto: a preset narrowed, or a space of your own with its stages "
          "(overrides --space)");
ABSL_FLAG(int, channels, 1, "Input channels of the dataset (Fashion-MNIST: 1)");
ABSL_FLAG(int, height, 28, "Input image height");
ABSL_FLAG(int, width, 28, "Input image width");
ABSL_FLAG(int, classes, 10, "Classes");
ABSL_FLAG(int, threads, 1, "Intra-op threads (use what the device's deployment will use)");
ABSL_FLAG(int, warmup, 10, "Warm-up runs per operator");
ABSL_FLAG(int, runs, 30, "Timed runs per operator");
ABSL_FLAG(int, overhead_networks, 20, "Random whole networks measured to fit the overhead");
ABSL_FLAG(std::string, out, "", "Output table file (required)");

int main(int argc, char** argv) {
  nas::ParseCommandLineOrExit(
      argc, argv,
      "nas-profile: builds a latency lookup table for a search space on this device.\n\n"
      "Usage: nas-profile --space_spec=FILE --out=TABLE [flags]",
      {"trainer/"});
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) {
    std::cerr << "nas-profile: --out is required\n";
    return 2;
  }
  nas::v1::SearchSpace request;
  request.set_name(absl::GetFlag(FLAGS_space));
  if (!absl::GetFlag(FLAGS_space_spec).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_space_spec));
    std::stringstream text;
    text << in.rdbuf();
    if (!in || !google::protobuf::TextFormat::ParseFromString(text.str(), &request)) {
      std::cerr << "nas-profile: cannot read a SearchSpace text proto from "
                << absl::GetFlag(FLAGS_space_spec) << "\n";
      return 2;
    }
  }
  absl::StatusOr<nas::SearchSpaceDef> space = nas::ResolveSearchSpace(request);
  if (!space.ok()) {
    std::cerr << "nas-profile: " << space.status().message() << "\n";
    return 2;
  }
  nas::InputShape input;
  input.channels = absl::GetFlag(FLAGS_channels);
  input.height = absl::GetFlag(FLAGS_height);
  input.width = absl::GetFlag(FLAGS_width);
  input.classes = absl::GetFlag(FLAGS_classes);
  nas::ProfilerOptions options;
  options.threads = absl::GetFlag(FLAGS_threads);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.runs = absl::GetFlag(FLAGS_runs);

  const std::vector<nas::LatencyOp> ops = nas::SpaceOperators(*space, input);
  std::cerr << absl::StrFormat("nas-profile: %d operators of %s on %s, %d thread(s)\n", ops.size(),
                               space->name, nas::DeviceDescription(), options.threads);
  const auto start = std::chrono::steady_clock::now();
  auto last = start;
  absl::StatusOr<nas::v1::LatencyTable> table =
      nas::ProfileOperators(ops, input, options, [&](int done, int total) {
        const auto now = std::chrono::steady_clock::now();
        if (done != total && now - last < std::chrono::seconds(2)) return;
        last = now;
        const double elapsed = std::chrono::duration<double>(now - start).count();
        std::cerr << absl::StrFormat(
            "nas-profile: %d/%d operators (%.0f%%), %.0f s, about %.0f s left\n", done, total,
            100.0 * done / total, elapsed, elapsed / done * (total - done));
      });
  if (!table.ok()) {
    std::cerr << "nas-profile: " << table.status().message() << "\n";
    return 1;
  }
  std::cerr << "nas-profile: fitting the per-inference overhead on "
            << absl::GetFlag(FLAGS_overhead_networks) << " random networks\n";
  absl::StatusOr<double> overhead =
      nas::FitOverhead(*table, *space, input, options, absl::GetFlag(FLAGS_overhead_networks));
  if (!overhead.ok()) {
    std::cerr << "nas-profile: " << overhead.status().message() << "\n";
    return 1;
  }
  table->set_overhead_ms(*overhead);
  std::ofstream file(out);
  file << nas::FormatLatencyTable(*table);
  file.close();
  if (!file) {
    std::cerr << "nas-profile: cannot write " << out << "\n";
    return 1;
  }
  std::cerr << absl::StrFormat("nas-profile: wrote %s (%d operators, overhead %.4f ms)\n", out,
                               table->entries_size(), *overhead);
  return 0;
}
