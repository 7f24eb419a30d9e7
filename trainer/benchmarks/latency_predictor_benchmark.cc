// How well a latency lookup table predicts whole networks on this machine: builds a table for a
// search space with the operator profiler (what nas-profile does), then measures random
// architectures of the space and compares. The baseline beside it is the usual proxy, latency
// proportional to MACs (a least-squares fit through the origin on the same measurements, so it
// is given an advantage the LUT does not have).
//
//   latency_predictor_benchmark --networks=200 --threads=1 --svg=docs/latency_predictor.svg
//
// Prints a Markdown table: the share of networks predicted within +-10% of their measured
// latency, RMSE, mean absolute percentage error and Kendall's tau, for both predictors. Writes
// the scatter plot of predicted against measured latency as SVG. See docs/benchmarks.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/text_format.h"
#include "search/cost_model.h"
#include "search/latency_table.h"
#include "search/rank_correlation.h"
#include "trainer/operator_profiler.h"

ABSL_FLAG(std::string, space, "mobilenetv2", "Built-in search space");
ABSL_FLAG(std::string, space_spec, "", "A SearchSpace text proto narrowing the space");
ABSL_FLAG(int, networks, 200, "Random architectures measured and predicted");
ABSL_FLAG(int, threads, 1, "Intra-op threads, for profiling and measuring alike");
ABSL_FLAG(int, runs, 30, "Timed runs per operator and per network");
ABSL_FLAG(int, overhead_networks, 20,
          "Networks (other than the measured ones) for the overhead fit");
ABSL_FLAG(std::string, svg, "", "Write the scatter plot here");
ABSL_FLAG(std::string, table_out, "", "Also write the latency table here");

namespace nas {
namespace {

struct Stats {
  double within10 = 0;  // share
  double rmse_ms = 0;
  double mape = 0;  // mean absolute percentage error
  double kendall_tau = 0;
};

Stats Compare(const std::vector<double>& measured, const std::vector<double>& predicted) {
  Stats s;
  const size_t n = measured.size();
  double sq = 0, ape = 0;
  int within = 0;
  for (size_t i = 0; i < n; ++i) {
    const double err = predicted[i] - measured[i];
    sq += err * err;
    ape += std::abs(err) / measured[i];
    within += std::abs(err) <= 0.1 * measured[i];
  }
  s.within10 = static_cast<double>(within) / n;
  s.rmse_ms = std::sqrt(sq / n);
  s.mape = ape / n;
  s.kendall_tau = KendallTau(measured, predicted);
  return s;
}

std::string Svg(const std::vector<double>& measured, const std::vector<double>& lut,
                const std::vector<double>& macs, const std::string& title) {
  const double hi = 1.05 * std::max({*std::max_element(measured.begin(), measured.end()),
                                     *std::max_element(lut.begin(), lut.end()),
                                     *std::max_element(macs.begin(), macs.end())});
  const double size = 480, pad = 60;
  auto x = [&](double v) { return pad + v / hi * size; };
  auto y = [&](double v) { return pad + size - v / hi * size; };
  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" "
      "fill=\"white\"/>\n",
      size + 2 * pad, size + 2 * pad);
  absl::StrAppendFormat(&out, "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\">%s</text>\n",
                        pad + size / 2, title);
  absl::StrAppendFormat(&out,
                        "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                        "stroke=\"black\"/>\n",
                        pad, pad, size, size);
  // y = x and the +-10% band.
  for (double f : {1.0, 0.9, 1.1}) {
    absl::StrAppendFormat(&out,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                          "stroke-dasharray=\"%s\"/>\n",
                          x(0), y(0), x(hi / std::max(f, 1.0)), y(hi / std::max(f, 1.0) * f),
                          f == 1.0 ? "black" : "gray", f == 1.0 ? "" : "4 3");
  }
  for (int t = 0; t <= 4; ++t) {
    const double v = hi * t / 4;
    absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.2f</text>\n",
                          x(v), pad + size + 16, v);
    absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                          pad - 6, y(v) + 4, v);
  }
  absl::StrAppendFormat(&out,
                        "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">measured latency "
                        "(ms)</text>\n",
                        pad + size / 2, pad + size + 40);
  absl::StrAppendFormat(&out,
                        "<text x=\"16\" y=\"%.0f\" transform=\"rotate(-90 16 %.0f)\" "
                        "text-anchor=\"middle\">predicted latency (ms)</text>\n",
                        pad + size / 2, pad + size / 2);
  for (size_t i = 0; i < measured.size(); ++i) {
    absl::StrAppendFormat(&out,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#d62728\" "
                          "fill-opacity=\"0.6\"/>\n",
                          x(measured[i]), y(macs[i]));
    absl::StrAppendFormat(&out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#1f77b4\"/>\n",
                          x(measured[i]), y(lut[i]));
  }
  absl::StrAppendFormat(
      &out,
      "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"4\" fill=\"#1f77b4\"/><text x=\"%.0f\" "
      "y=\"%.0f\">lookup table</text>\n",
      pad + 14, pad + 16, pad + 24, pad + 20);
  absl::StrAppendFormat(
      &out,
      "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"4\" fill=\"#d62728\"/><text x=\"%.0f\" "
      "y=\"%.0f\">MACs x fitted rate</text>\n",
      pad + 14, pad + 34, pad + 24, pad + 38);
  out += "</svg>\n";
  return out;
}

}  // namespace
}  // namespace nas

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  nas::v1::SearchSpace request;
  request.set_name(absl::GetFlag(FLAGS_space));
  if (!absl::GetFlag(FLAGS_space_spec).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_space_spec));
    std::stringstream text;
    text << in.rdbuf();
    if (!google::protobuf::TextFormat::ParseFromString(text.str(), &request)) {
      std::cerr << "cannot parse " << absl::GetFlag(FLAGS_space_spec) << "\n";
      return 2;
    }
  }
  absl::StatusOr<nas::SearchSpaceDef> space = nas::ResolveSearchSpace(request);
  if (!space.ok()) {
    std::cerr << space.status() << "\n";
    return 2;
  }
  const nas::InputShape input = nas::FashionMnistInput();
  nas::ProfilerOptions options;
  options.threads = absl::GetFlag(FLAGS_threads);
  options.runs = absl::GetFlag(FLAGS_runs);

  const auto start = std::chrono::steady_clock::now();
  const std::vector<nas::LatencyOp> ops = nas::SpaceOperators(*space, input);
  absl::StatusOr<nas::v1::LatencyTable> table =
      nas::ProfileOperators(ops, input, options, [&](int done, int total) {
        if (done % 200 == 0 || done == total) {
          std::cerr << "profiled " << done << "/" << total << " operators\n";
        }
      });
  if (!table.ok()) {
    std::cerr << table.status() << "\n";
    return 1;
  }
  absl::StatusOr<double> overhead =
      nas::FitOverhead(*table, *space, input, options, absl::GetFlag(FLAGS_overhead_networks),
                       /*seed=*/1);
  if (!overhead.ok()) {
    std::cerr << overhead.status() << "\n";
    return 1;
  }
  table->set_overhead_ms(*overhead);
  const double profile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!absl::GetFlag(FLAGS_table_out).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_table_out)) << nas::FormatLatencyTable(*table);
  }

  // Networks other than the overhead fit's (another seed).
  std::mt19937_64 rng(2);
  std::vector<double> measured, lut, macs;
  for (int i = 0; i < absl::GetFlag(FLAGS_networks); ++i) {
    const nas::v1::Architecture arch = nas::SampleArchitecture(*space, rng);
    measured.push_back(nas::MeasureNetworkMs(arch, input, options));
    lut.push_back(*nas::PredictLatencyMs(*table, arch, input));
    macs.push_back(static_cast<double>(nas::EstimateCost(arch, input).macs));
    if ((i + 1) % 50 == 0) std::cerr << "measured " << i + 1 << " networks\n";
  }
  // Baseline: latency = rate x MACs, least squares through the origin on these very networks.
  double xy = 0, xx = 0;
  for (size_t i = 0; i < measured.size(); ++i) {
    xy += macs[i] * measured[i];
    xx += macs[i] * macs[i];
  }
  const double rate = xy / xx;
  std::vector<double> proxy;
  for (double m : macs) proxy.push_back(rate * m);

  const nas::Stats a = nas::Compare(measured, lut);
  const nas::Stats b = nas::Compare(measured, proxy);
  std::cout << absl::StrFormat(
      "%d %s networks, %d thread(s), %s; table of %d operators built in %.0f s, overhead "
      "%.4f ms\n\n",
      measured.size(), space->name, options.threads, table->device_description(),
      table->entries_size(), profile_seconds, *overhead);
  std::cout << "| predictor | within +-10% | RMSE (ms) | mean abs. error | Kendall tau |\n";
  std::cout << "|---|---|---|---|---|\n";
  for (const auto& [name, s] :
       {std::make_pair("lookup table", a), std::make_pair("MACs x fitted rate", b)}) {
    std::cout << absl::StrFormat("| %s | %.1f%% | %.4f | %.1f%% | %.3f |\n", name, 100 * s.within10,
                                 s.rmse_ms, 100 * s.mape, s.kendall_tau);
  }
  if (!absl::GetFlag(FLAGS_svg).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_svg))
        << nas::Svg(measured, lut, proxy,
                    absl::StrFormat("%s: predicted vs measured latency, %d networks", space->name,
                                    measured.size()));
  }
  return 0;
}
