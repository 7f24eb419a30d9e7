// What `nasctl watch` and `nasctl pareto --plot` draw, as pure functions (no gRPC, no I/O):
//
//   std::string bar = ProgressLine(search, {{"rpi4-cortex-a72@1", 0.73}}, absl::Now(), 24);
//   // "[#########...............] 15/40  best 0.8412  hv rpi4-cortex-a72@1 0.7300  ETA 2m10s"
//   std::string svg = ParetoPlotSvg("search 7", panels);
#ifndef NAS_CLI_WATCH_VIEW_H_
#define NAS_CLI_WATCH_VIEW_H_

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proto/nas.pb.h"

namespace nas {

// EstimateRemaining() returns the time the search needs to reach its target at the pace it
// has kept since `created` (evaluations per second so far), never past its wall-clock
// deadline; nullopt before the first result or once it ended.
std::optional<absl::Duration> EstimateRemaining(const nas::v1::Search& search, absl::Time created,
                                                absl::Time now);

// ProgressLine() is one line: a bar of `width` cells for evaluated/target, the best accuracy,
// each profile's front hypervolume, and the ETA (or the final state once the search ended).
std::string ProgressLine(const nas::v1::Search& search,
                         const std::map<std::string, double>& hypervolume, absl::Time now,
                         int width);

// RecentPeak keeps the largest value observed over the last `window`. The watch view shows
// running candidates through it: a search's state is read as each event arrives, and the event
// of a stored result always finds that result's worker between two leases, so the plain count
// showed one worker fewer than were training (with two workers: "running 1" throughout).
class RecentPeak {
 public:
  explicit RecentPeak(absl::Duration window) : window_(window) {}
  void Observe(int value, absl::Time now);
  int Peak(absl::Time now);

 private:
  absl::Duration window_;
  std::deque<std::pair<absl::Time, int>> samples_;
};

// ShortDuration(): "45s", "3m05s", "2h10m".
std::string ShortDuration(absl::Duration d);

// One evaluated candidate as the plot shows it.
struct PlotPoint {
  int64_t candidate_id = 0;
  double accuracy = 0;
  double latency_ms = 0;
  double peak_activation_bytes = 0;
  bool feasible = true;
  bool on_front = false;
  // Beside a front member's id: "ref" for the reference network, else its comparison with it
  // ("21.3x, -0.7": parameters ratio, accuracy points); empty without a reference.
  std::string note;
  // A measured latency's 95% half-width (drawn as an error bar), and whether it is unsettled
  // (wider than +-5%: drawn hollow, its place on the front within noise).
  double latency_ci_ms = 0;
  bool latency_unsettled = false;
};

// A label's box in SVG pixels (y grows downwards).
struct LabelBox {
  double x0, y0, x1, y1;
};
// Front labels are 10 px text: about this wide per character, this tall.
inline constexpr double kLabelCharWidth = 6.2;
inline constexpr double kLabelHeight = 12;

// PlaceLabel() chooses where a label of `chars` characters for the point (px, py) goes: the
// nearest of a few spots around it whose box overlaps none of `taken` (which it joins), or
// nullopt when none is free.
std::optional<LabelBox> PlaceLabel(double px, double py, size_t chars,
                                   std::vector<LabelBox>* taken);

// One profile's panel: every evaluated (final-rung) candidate, the front marked.
struct PlotPanel {
  std::string profile_id;
  std::string latency_source;  // "measured", "predicted", "modelled"
  double hypervolume = 0;      // normalised to its reference box, in [0, 1]
  // Which accuracy the points show: "fp32", or "int8" on a profile whose weights are int8.
  std::string accuracy_kind = "fp32";
  std::vector<PlotPoint> points;
};

// ParetoPlotSvg() draws, per profile, accuracy against latency and against peak activation
// memory: front members in colour, joined by the front's staircase and labelled with their
// candidate ids; dominated candidates faded; infeasible ones as faded crosses. A cost axis
// (latency, memory) is logarithmic whenever every cost on it is positive; accuracy is linear.
// A standalone SVG file for a browser.
std::string ParetoPlotSvg(const std::string& title, const std::vector<PlotPanel>& panels);

}  // namespace nas

#endif  // NAS_CLI_WATCH_VIEW_H_
