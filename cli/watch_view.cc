#include "cli/watch_view.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "cli/units.h"
#include "common/enum_names.h"

namespace nas {

namespace {

// A finalist of final training costs what its recipe costs against a search evaluation's: its
// epochs in proportion, and its examples where both counts are known.
double FinalistWeight(const nas::v1::SearchSpec& spec) {
  const nas::v1::FinalTraining& ft = spec.final_training();
  double w = static_cast<double>(std::max(1, ft.epochs())) / std::max(1, spec.recipe().epochs());
  if (ft.train_subset() > 0 && spec.recipe().train_subset() > 0) {
    w *= static_cast<double>(ft.train_subset()) / spec.recipe().train_subset();
  }
  return w;
}

}  // namespace

std::optional<absl::Duration> EstimateRemaining(const nas::v1::Search& search, absl::Time created,
                                                absl::Time now) {
  if (search.state() != nas::v1::SEARCH_STATE_RUNNING) return std::nullopt;
  const nas::v1::SearchProgress& p = search.progress();
  const nas::v1::SearchSpec& spec = search.spec();
  const int done = p.evaluated() + p.failed();
  if (done <= 0 || now <= created) return std::nullopt;
  // Work in units of one search evaluation. Before final training starts the target holds
  // the most finalists the search may train; after, the finalists queued.
  int finalists = p.finalists();
  if (finalists == 0 && spec.final_training().finalists_per_profile() > 0) {
    finalists = spec.final_training().finalists_per_profile() * spec.profile_ids_size() +
                (spec.has_reference() ? 1 : 0);
  }
  const double weight = finalists > 0 ? FinalistWeight(spec) : 1;
  const int search_target = std::max(0, p.target() - finalists);
  const int finalists_done = std::max(0, done - search_target);
  const double done_units = (done - finalists_done) + finalists_done * weight;
  const double target_units = search_target + finalists * weight;
  const double per_second = done_units / absl::ToDoubleSeconds(now - created);
  absl::Duration left = absl::Seconds(std::max(0.0, target_units - done_units) / per_second);
  const int64_t wall = spec.budget().max_wall_seconds();
  if (wall > 0)
    left = std::min(left, std::max(absl::ZeroDuration(), created + absl::Seconds(wall) - now));
  return left;
}

void RecentPeak::Observe(int value, absl::Time now) {
  samples_.emplace_back(now, value);
  Peak(now);
}

int RecentPeak::Peak(absl::Time now) {
  while (samples_.size() > 1 && samples_.front().first < now - window_) samples_.pop_front();
  int peak = 0;
  for (const auto& [at, value] : samples_) peak = std::max(peak, value);
  return peak;
}

std::string ShortDuration(absl::Duration d) {
  const int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(d));
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string ProgressLine(const nas::v1::Search& search,
                         const std::map<std::string, double>& hypervolume, absl::Time now,
                         int width) {
  const nas::v1::SearchProgress& p = search.progress();
  const int done = p.evaluated() + p.failed();
  const int target = std::max(1, p.target());
  const int filled =
      std::min(width, static_cast<int>(std::lround(static_cast<double>(width) * done / target)));
  std::string line = absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '.'),
                                  "] ", p.evaluated(), "/", p.target());
  if (p.failed() > 0) absl::StrAppend(&line, " (", p.failed(), " failed)");
  if (p.queued() + p.leased() > 0) absl::StrAppend(&line, "  running ", p.leased());
  if (p.finalists() > 0) {
    absl::StrAppend(&line, "  final training ", p.finalists_trained(), "/", p.finalists());
  }
  absl::StrAppend(&line, absl::StrFormat("  best %.4f", search.best_accuracy()));
  for (const auto& [profile, hv] : hypervolume) {
    absl::StrAppend(&line, absl::StrFormat("  hv %s %.4f", profile, hv));
  }
  if (search.state() != nas::v1::SEARCH_STATE_RUNNING) {
    absl::StrAppend(&line, "  ", ShortEnumName(search.state()));
    return line;
  }
  absl::Time created;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, search.created_at(), &created, &error)) {
    const std::optional<absl::Duration> left = EstimateRemaining(search, created, now);
    absl::StrAppend(&line, "  elapsed ", ShortDuration(now - created), "  ETA ",
                    left.has_value() ? ShortDuration(*left) : "-");
  }
  return line;
}

namespace {

std::string Escape(const std::string& s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

// One axis: a value range, linear or logarithmic, mapped onto [lo_px, hi_px].
struct Axis {
  double min = 0, max = 1;
  bool log = false;
  double lo_px = 0, hi_px = 1;
  // Linear ticks fall on round multiples of this unit (1024 for bytes: 100 KiB, not 97.7 KiB).
  double unit = 1;

  static Axis Fit(std::vector<double> values, double lo_px, double hi_px, bool allow_log) {
    Axis a;
    a.lo_px = lo_px;
    a.hi_px = hi_px;
    values.erase(
        std::remove_if(values.begin(), values.end(),
                       [&](double v) { return !std::isfinite(v) || (allow_log && v <= 0); }),
        values.end());
    if (values.empty()) return a;
    a.min = *std::min_element(values.begin(), values.end());
    a.max = *std::max_element(values.begin(), values.end());
    // Costs (latency, memory) go on a log scale whenever they are positive, whatever their
    // spread or source, so that every profile's panel reads alike.
    a.log = allow_log && a.min > 0 && a.max > a.min;
    if (a.log) {
      a.min /= 1.25;
      a.max *= 1.25;
    } else {
      const double pad = a.max > a.min ? (a.max - a.min) * 0.06 : std::max(1e-3, a.max * 0.1);
      a.min = allow_log ? std::max(0.0, a.min - pad) : a.min - pad;
      a.max += pad;
    }
    return a;
  }

  double Px(double v) const {
    double t;
    if (log) {
      t = (std::log(std::max(v, min)) - std::log(min)) / (std::log(max) - std::log(min));
    } else {
      t = (v - min) / (max - min);
    }
    return lo_px + t * (hi_px - lo_px);
  }

  // Tick values: powers 1, 2, 5 of ten for a log axis, about five round steps for a linear one.
  std::vector<double> Ticks() const {
    std::vector<double> out;
    if (log) {
      // 1, 2, 5 per decade; every mantissa when the axis spans too little for three of those.
      for (const std::vector<double>& mantissas :
           {std::vector<double>{1, 2, 5}, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
        out.clear();
        for (double decade = std::pow(10, std::floor(std::log10(min))); decade <= max;
             decade *= 10) {
          for (double m : mantissas) {
            if (decade * m >= min && decade * m <= max) out.push_back(decade * m);
          }
        }
        if (out.size() >= 3) break;
      }
      return out;
    }
    const double raw = (max - min) / 5 / unit;
    const double mag = std::pow(10, std::floor(std::log10(raw)));
    const double step = unit * (raw / mag < 2 ? 2 * mag : raw / mag < 5 ? 5 * mag : 10 * mag);
    for (double v = std::ceil(min / step) * step; v <= max + step * 1e-9; v += step)
      out.push_back(v);
    return out;
  }
};

std::string TickLabel(double v) {
  if (v != 0 && (std::fabs(v) >= 1e4 || std::fabs(v) < 1e-2)) return absl::StrFormat("%.0e", v);
  return absl::StrFormat("%g", std::round(v * 1000) / 1000);
}

}  // namespace

std::optional<LabelBox> PlaceLabel(double px, double py, size_t chars,
                                   std::vector<LabelBox>* taken) {
  // Offsets of the label's top-left corner from the point, nearest first.
  static constexpr double kOffsets[][2] = {{7, -17}, {7, 3},    {-7, -17}, {-7, 3},
                                           {7, -29}, {7, 15},   {-7, -29}, {-7, 15},
                                           {12, -7}, {-12, -7}, {7, -41},  {7, 27}};
  const double w = kLabelCharWidth * static_cast<double>(chars), h = kLabelHeight;
  for (const auto& o : kOffsets) {
    // A negative x offset puts the label left of the point: it ends there.
    const double x0 = o[0] >= 0 ? px + o[0] : px + o[0] - w;
    const LabelBox box{x0, py + o[1], x0 + w, py + o[1] + h};
    const bool free = std::none_of(taken->begin(), taken->end(), [&](const LabelBox& t) {
      return box.x0 < t.x1 && t.x0 < box.x1 && box.y0 < t.y1 && t.y0 < box.y1;
    });
    if (free) {
      taken->push_back(box);
      return box;
    }
  }
  return std::nullopt;
}

namespace {

// Draws one scatter: accuracy (y) against a cost (x) into the box (x0, y0, w, h).
void Scatter(std::string* svg, const PlotPanel& panel, bool latency, double x0, double y0, double w,
             double h) {
  auto cost = [&](const PlotPoint& p) { return latency ? p.latency_ms : p.peak_activation_bytes; };
  std::vector<double> xs, ys;
  for (const PlotPoint& p : panel.points) {
    xs.push_back(cost(p));
    ys.push_back(p.accuracy);
  }
  Axis x = Axis::Fit(xs, x0, x0 + w, /*allow_log=*/true);
  if (!latency) x.unit = x.max >= (1 << 20) * 2 ? (1 << 20) : 1024;
  const Axis y = Axis::Fit(ys, y0 + h, y0, /*allow_log=*/false);
  absl::StrAppend(svg, absl::StrFormat("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                                       "fill=\"#fcfcfd\" stroke=\"#8a8f98\"/>\n",
                                       x0, y0, w, h));
  for (double t : x.Ticks()) {
    const double px = x.Px(t);
    const std::string label =
        latency ? TickLabel(t) : Escape(Bytes(static_cast<int64_t>(std::llround(t))));
    absl::StrAppend(svg, absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                         "stroke=\"#e3e5e8\"/><text x=\"%.1f\" y=\"%.1f\" "
                                         "class=\"tick\" text-anchor=\"middle\">%s</text>\n",
                                         px, y0, px, y0 + h, px, y0 + h + 16, label));
  }
  for (double t : y.Ticks()) {
    const double py = y.Px(t);
    absl::StrAppend(svg, absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                         "stroke=\"#e3e5e8\"/><text x=\"%.1f\" y=\"%.1f\" "
                                         "class=\"tick\" text-anchor=\"end\">%s</text>\n",
                                         x0, py, x0 + w, py, x0 - 6, py + 4, TickLabel(t)));
  }
  const std::string x_title =
      latency ? absl::StrCat("latency, ms (", panel.latency_source, x.log ? ", log scale)" : ")")
              : absl::StrCat("peak activation memory", x.log ? " (log scale)" : "");
  absl::StrAppend(
      svg, absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" class=\"axis\" "
                           "text-anchor=\"middle\">%s</text>\n"
                           "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\" text-anchor=\"middle\" "
                           "transform=\"rotate(-90 %.1f %.1f)\">%s validation accuracy</text>\n",
                           x0 + w / 2, y0 + h + 36, Escape(x_title), x0 - 44, y0 + h / 2, x0 - 44,
                           y0 + h / 2, Escape(panel.accuracy_kind)));
  // Dominated and infeasible candidates first, faded, so the front draws over them.
  for (const PlotPoint& p : panel.points) {
    if (p.on_front) continue;
    const double px = x.Px(cost(p)), py = y.Px(p.accuracy);
    if (!p.feasible) {
      absl::StrAppend(svg,
                      absl::StrFormat("<path d=\"M%.1f %.1fl6 6m0 -6l-6 6\" class=\"infeasible\">"
                                      "<title>candidate %d (infeasible)</title></path>\n",
                                      px - 3, py - 3, p.candidate_id));
    } else {
      absl::StrAppend(
          svg, absl::StrFormat("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" class=\"dominated\">"
                               "<title>candidate %d</title></circle>\n",
                               px, py, p.candidate_id));
    }
  }
  // The front of this projection: front members no other front member beats on both axes,
  // joined by the staircase of what is attainable.
  std::vector<const PlotPoint*> front;
  for (const PlotPoint& p : panel.points) {
    if (p.on_front) front.push_back(&p);
  }
  std::sort(front.begin(), front.end(), [&](const PlotPoint* a, const PlotPoint* b) {
    return cost(*a) != cost(*b) ? cost(*a) < cost(*b) : a->accuracy > b->accuracy;
  });
  std::string stair;
  double best = -1;
  for (const PlotPoint* p : front) {
    if (p->accuracy <= best) continue;
    const double px = x.Px(cost(*p)), py = y.Px(p->accuracy);
    absl::StrAppend(&stair, stair.empty() ? absl::StrFormat("M%.1f %.1f", px, py)
                                          : absl::StrFormat(" H%.1f V%.1f", px, py));
    best = p->accuracy;
  }
  if (!stair.empty()) {
    absl::StrAppend(svg,
                    absl::StrFormat("<path d=\"%s H%.1f\" class=\"stair\"/>\n", stair, x0 + w));
  }
  // Labels go where they cover no other label and no front point (the nearest free spot of a
  // few around the point); a label with no room is left out, its id still in the tooltip.
  std::vector<LabelBox> taken;
  for (const PlotPoint* p : front) {
    const double px = x.Px(cost(*p)), py = y.Px(p->accuracy);
    taken.push_back({px - 5, py - 5, px + 5, py + 5});
  }
  for (const PlotPoint* p : front) {
    const double px = x.Px(cost(*p)), py = y.Px(p->accuracy);
    if (latency && p->latency_ci_ms > 0) {
      // The measured latency's 95% interval, as an error bar.
      absl::StrAppend(svg,
                      absl::StrFormat("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                                      "class=\"ci\"/>",
                                      x.Px(std::max(x.min, p->latency_ms - p->latency_ci_ms)), py,
                                      x.Px(std::min(x.max, p->latency_ms + p->latency_ci_ms)), py));
    }
    const std::string label =
        absl::StrCat(p->candidate_id, p->note.empty() ? "" : absl::StrCat(" (", p->note, ")"));
    const std::optional<LabelBox> at = PlaceLabel(px, py, label.size(), &taken);
    // An unsettled latency's point is hollow: its place on the front is within noise.
    const bool hollow = latency && p->latency_unsettled;
    absl::StrAppend(
        svg, absl::StrFormat(
                 "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" class=\"front\"%s>"
                 "<title>candidate %d: accuracy %.4f, %s%s</title></circle>",
                 px, py, hollow ? " style=\"fill:#fff\"" : "", p->candidate_id, p->accuracy,
                 latency ? absl::StrFormat("%.3g ms", cost(*p))
                         : Bytes(static_cast<int64_t>(std::llround(cost(*p)))),
                 hollow ? " (latency not settled: within measurement noise)"
                 : latency && p->latency_ci_ms > 0 ? absl::StrFormat(" +-%.2g", p->latency_ci_ms)
                                                   : ""));
    if (at.has_value()) {
      // Text is drawn from its baseline: the box's bottom, less the descent.
      absl::StrAppend(svg, absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" class=\"id\">%s</text>",
                                           at->x0, at->y1 - 2, Escape(label)));
    }
    absl::StrAppend(svg, "\n");
  }
}

}  // namespace

std::string ParetoPlotSvg(const std::string& title, const std::vector<PlotPanel>& panels) {
  constexpr double kWidth = 1100, kRow = 400, kTop = 56;
  const double height = kTop + kRow * std::max<size_t>(1, panels.size()) + 20;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
      "<style>.tick{font-size:11px;fill:#4a4f57}.axis{font-size:13px;fill:#23272e}"
      ".title{font-size:18px;font-weight:bold;fill:#111}.sub{font-size:13px;fill:#333}"
      ".id{font-size:10px;fill:#174ea6}.front{fill:#1a73e8;stroke:#0b3d91;stroke-width:1}"
      ".dominated{fill:#9aa0a6;fill-opacity:0.35}.infeasible{stroke:#d93025;stroke-opacity:0.45;"
      "stroke-width:1.5;fill:none}.stair{fill:none;stroke:#1a73e8;stroke-width:1.5;"
      "stroke-opacity:0.6}.ci{stroke:#0b3d91;stroke-width:1.5;stroke-opacity:0.7}</style>\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"24\" y=\"30\" class=\"title\">%s</text>\n"
      "<text x=\"24\" y=\"48\" class=\"sub\">blue: Pareto front (ids are candidate ids); grey: "
      "dominated; red crosses: over a limit or constraint; bars: a measured latency's 95%% "
      "interval, "
      "hollow: latency within measurement noise</text>\n",
      kWidth, height, kWidth, height, Escape(title));
  if (panels.empty()) {
    absl::StrAppend(&svg,
                    "<text x=\"24\" y=\"90\" class=\"sub\">no evaluated candidates yet</text>\n");
  }
  for (size_t i = 0; i < panels.size(); ++i) {
    const PlotPanel& panel = panels[i];
    const double y0 = kTop + kRow * static_cast<double>(i) + 30;
    int front = 0, infeasible = 0;
    for (const PlotPoint& p : panel.points) {
      front += p.on_front;
      infeasible += !p.feasible;
    }
    absl::StrAppend(
        &svg, absl::StrFormat("<text x=\"24\" y=\"%.1f\" class=\"axis\">profile %s: %d evaluated, "
                              "%d on the front, %d infeasible, hypervolume %.4f</text>\n",
                              y0 - 8, Escape(panel.profile_id), panel.points.size(), front,
                              infeasible, panel.hypervolume));
    Scatter(&svg, panel, /*latency=*/true, 80, y0 + 6, 440, kRow - 90);
    Scatter(&svg, panel, /*latency=*/false, 630, y0 + 6, 440, kRow - 90);
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

}  // namespace nas
