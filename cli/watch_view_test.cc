// nasctl's progress line, ETA and Pareto plot, on hand-made searches and fronts.
#include "cli/watch_view.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace nas {
namespace {

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

nas::v1::Search Running(int evaluated, int failed, int target) {
  nas::v1::Search s;
  s.set_state(nas::v1::SEARCH_STATE_RUNNING);
  s.mutable_progress()->set_evaluated(evaluated);
  s.mutable_progress()->set_failed(failed);
  s.mutable_progress()->set_target(target);
  s.set_best_accuracy(0.8412);
  s.set_created_at("2026-11-24T10:00:00Z");
  return s;
}

TEST(EstimateRemainingTest, KeepsThePaceSoFarWithinTheDeadline) {
  const absl::Time created = absl::FromUnixSeconds(1000);
  const absl::Time now = created + absl::Seconds(100);
  // 10 of 40 in 100 s: 30 more take 300 s.
  EXPECT_EQ(EstimateRemaining(Running(9, 1, 40), created, now), absl::Seconds(300));
  nas::v1::Search capped = Running(10, 0, 40);
  capped.mutable_spec()->mutable_budget()->set_max_wall_seconds(250);
  EXPECT_EQ(EstimateRemaining(capped, created, now), absl::Seconds(150));
  EXPECT_FALSE(EstimateRemaining(Running(0, 0, 40), created, now).has_value());
  nas::v1::Search ended = Running(40, 0, 40);
  ended.set_state(nas::v1::SEARCH_STATE_SUCCEEDED);
  EXPECT_FALSE(EstimateRemaining(ended, created, now).has_value());
}

TEST(EstimateRemainingTest, WeighsFinalistsByTheirEpochs) {
  const absl::Time created = absl::FromUnixSeconds(1000);
  const absl::Time now = created + absl::Seconds(100);
  // 10 search evaluations of 1 epoch in 100 s; 2 finalists of 5 epochs still to come (one
  // profile, one per profile, and the reference): 10 more units of 10 s.
  nas::v1::Search s = Running(10, 0, 12);
  s.mutable_spec()->add_profile_ids("host-cpu");
  s.mutable_spec()->mutable_reference()->set_preset("resnet18");
  s.mutable_spec()->mutable_recipe()->set_epochs(1);
  s.mutable_spec()->mutable_final_training()->set_finalists_per_profile(1);
  s.mutable_spec()->mutable_final_training()->set_epochs(5);
  EXPECT_EQ(EstimateRemaining(s, created, now), absl::Seconds(100));
  // Final training queued both; one trained (its 5 units took the pace to 15 units / 100 s).
  s.mutable_progress()->set_evaluated(11);
  s.mutable_progress()->set_finalists(2);
  s.mutable_progress()->set_finalists_trained(1);
  EXPECT_EQ(EstimateRemaining(s, created, now), absl::Seconds(5.0 / 0.15));
  const std::string line = ProgressLine(s, {}, now, 10);
  EXPECT_NE(line.find("final training 1/2"), std::string::npos) << line;
}

TEST(ProgressLineTest, ShowsBarCountsBestHypervolumeAndEta) {
  absl::Time now;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2026-11-24T10:01:40Z", &now, &error));
  const std::string line =
      ProgressLine(Running(10, 0, 40), {{"rpi4-cortex-a72@1", 0.7301}}, now, 20);
  EXPECT_EQ(line.substr(0, 22), "[#####...............]") << line;
  EXPECT_NE(line.find("10/40"), std::string::npos) << line;
  EXPECT_NE(line.find("best 0.8412"), std::string::npos) << line;
  EXPECT_NE(line.find("hv rpi4-cortex-a72@1 0.7301"), std::string::npos) << line;
  EXPECT_NE(line.find("elapsed 1m40s  ETA 5m00s"), std::string::npos) << line;
  nas::v1::Search done = Running(40, 0, 40);
  done.set_state(nas::v1::SEARCH_STATE_SUCCEEDED);
  const std::string last = ProgressLine(done, {}, now, 20);
  EXPECT_EQ(last.substr(0, 22), "[####################]") << last;
  EXPECT_NE(last.find("SUCCEEDED"), std::string::npos) << last;
  EXPECT_EQ(last.find("ETA"), std::string::npos) << last;
}

TEST(RecentPeakTest, RunningIsTheMostAtOnceOverTheWindow) {
  // Two workers: a snapshot read as a result is stored finds its worker between leases.
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  RecentPeak running(absl::Seconds(10));
  running.Observe(2, t0);                     // both leased
  running.Observe(1, t0 + absl::Seconds(6));  // candidate evaluated: one worker idle
  EXPECT_EQ(running.Peak(t0 + absl::Seconds(6)), 2);
  running.Observe(2, t0 + absl::Seconds(7));   // it leased the next
  running.Observe(1, t0 + absl::Seconds(14));  // the other's result
  EXPECT_EQ(running.Peak(t0 + absl::Seconds(14)), 2);
  // Once the window holds only ones, one it is.
  running.Observe(1, t0 + absl::Seconds(20));
  EXPECT_EQ(running.Peak(t0 + absl::Seconds(20)), 1);
  running.Observe(0, t0 + absl::Seconds(40));
  EXPECT_EQ(running.Peak(t0 + absl::Seconds(40)), 0);
}

TEST(ShortDurationTest, Units) {
  EXPECT_EQ(ShortDuration(absl::Seconds(45)), "45s");
  EXPECT_EQ(ShortDuration(absl::Seconds(185)), "3m05s");
  EXPECT_EQ(ShortDuration(absl::Minutes(130)), "2h10m");
}

TEST(ParetoPlotSvgTest, MarksTheFrontFadesTheRestAndEscapesText) {
  PlotPanel panel;
  panel.profile_id = "rpi4<x>@1";
  panel.latency_source = "modelled";
  panel.hypervolume = 0.625;
  // Three front members (one dominated in the memory projection), two dominated, one
  // infeasible.
  panel.points = {{1, 0.80, 0.5, 40000, true, true},  {2, 0.85, 1.0, 90000, true, true},
                  {3, 0.70, 0.2, 20000, true, true},  {4, 0.60, 0.9, 50000, true, false},
                  {5, 0.75, 1.5, 80000, true, false}, {6, 0.90, 9.0, 900000, false, false}};
  const std::string svg = ParetoPlotSvg("search 7 & co", {panel});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("search 7 &amp; co"), std::string::npos);
  EXPECT_NE(svg.find("rpi4&lt;x&gt;@1"), std::string::npos);
  EXPECT_EQ(svg.find("rpi4<x>"), std::string::npos);
  // Two panels (latency, memory) per profile: each point drawn once per panel.
  EXPECT_EQ(Count(svg, "class=\"front\""), 2 * 3);
  EXPECT_EQ(Count(svg, "class=\"dominated\""), 2 * 2);
  EXPECT_EQ(Count(svg, "class=\"infeasible\""), 2 * 1);
  EXPECT_EQ(Count(svg, "class=\"stair\""), 2);
  EXPECT_NE(svg.find("6 evaluated, 3 on the front, 1 infeasible, hypervolume 0.6250"),
            std::string::npos);
  // Latency spans 0.2 to 9 ms: a factor of 45, so a log scale.
  EXPECT_NE(svg.find("latency, ms (modelled, log scale)"), std::string::npos);
  EXPECT_NE(ParetoPlotSvg("empty", {}).find("no evaluated candidates yet"), std::string::npos);
}

TEST(ParetoPlotSvgTest, LabelsFrontMembersWithTheirRatiosToTheReference) {
  PlotPanel panel;
  panel.profile_id = "cortex-m7@1";
  panel.points = {{1, 0.90, 5.0, 900000, true, true, "ref"},
                  {2, 0.89, 0.5, 40000, true, true, "21.3x, -0.7"},
                  {3, 0.70, 0.9, 50000, true, false, "2.0x, -20.0"}};
  const std::string svg = ParetoPlotSvg("search 1", {panel});
  EXPECT_EQ(Count(svg, ">1 (ref)</text>"), 2);
  EXPECT_EQ(Count(svg, ">2 (21.3x, -0.7)</text>"), 2);
  EXPECT_EQ(svg.find("(2.0x, -20.0)"), std::string::npos);  // only front members are labelled
}

TEST(ParetoPlotSvgTest, LatencyIsOnALogScaleWhateverItsSpreadOrSource) {
  // Modelled latencies within a factor of 2 (as a roofline gives them) and measured ones over
  // a factor of 40 are drawn alike: log scales both.
  for (const auto& [source, slow] : {std::pair<std::string, double>{"modelled", 1.9},
                                     std::pair<std::string, double>{"measured", 40}}) {
    PlotPanel panel;
    panel.profile_id = "p@1";
    panel.latency_source = source;
    panel.points = {{1, 0.80, 1.0, 40000, true, true}, {2, 0.85, slow, 80000, true, true}};
    const std::string svg = ParetoPlotSvg("s", {panel});
    EXPECT_NE(svg.find(absl::StrCat("latency, ms (", source, ", log scale)")), std::string::npos)
        << source;
    EXPECT_NE(svg.find("peak activation memory (log scale)"), std::string::npos) << source;
  }
}

TEST(ParetoPlotSvgTest, AMeasuredLatencysIntervalIsDrawnAndAnUnsettledOneHollow) {
  PlotPanel panel;
  panel.profile_id = "host-cpu@1";
  panel.latency_source = "measured";
  // Settled: 1.0 +- 0.02 ms. Unsettled: 0.572 +- 0.25 ms (the newcomer's loaded machine).
  panel.points = {{1, 0.85, 1.0, 40000, true, true, "", 0.02, false},
                  {2, 0.80, 0.572, 30000, true, true, "", 0.25, true},
                  {3, 0.70, 2.0, 50000, true, false}};
  const std::string svg = ParetoPlotSvg("s", {panel});
  EXPECT_EQ(Count(svg, "class=\"ci\""), 2);  // the front's two, in the latency panel only
  EXPECT_EQ(Count(svg, "style=\"fill:#fff\""), 1);
  EXPECT_NE(svg.find("candidate 2: accuracy 0.8000, 0.572 ms (latency not settled"),
            std::string::npos)
      << svg;
  EXPECT_NE(svg.find("candidate 1: accuracy 0.8500, 1 ms +-0.02"), std::string::npos) << svg;
}

TEST(ParetoPlotSvgTest, LabelsOfNearbyPointsDoNotCoverEachOther) {
  PlotPanel panel;
  panel.profile_id = "p@1";
  panel.latency_source = "measured";
  // Four front members within a pixel or two of each other, and one far away.
  panel.points = {{101, 0.800, 1.000, 40000, true, true},
                  {102, 0.801, 1.002, 40100, true, true},
                  {103, 0.802, 1.004, 40200, true, true},
                  {104, 0.803, 1.006, 40300, true, true},
                  {105, 0.600, 0.100, 4000, true, true}};
  const std::string svg = ParetoPlotSvg("s", {panel});
  // Every drawn label, as the box its text occupies.
  std::vector<LabelBox> boxes;
  std::vector<std::string> labels;
  for (size_t at = svg.find("class=\"id\">"); at != std::string::npos;
       at = svg.find("class=\"id\">", at + 1)) {
    const size_t open = svg.rfind("<text x=\"", at);
    double x = 0, y = 0;
    ASSERT_EQ(std::sscanf(svg.c_str() + open, "<text x=\"%lf\" y=\"%lf\"", &x, &y), 2);
    const size_t start = at + std::string("class=\"id\">").size();
    const std::string label = svg.substr(start, svg.find("</text>", start) - start);
    labels.push_back(label);
    boxes.push_back({x, y + 2 - kLabelHeight, x + kLabelCharWidth * label.size(), y + 2});
  }
  EXPECT_GE(labels.size(), 2u * 4) << svg;  // most labels find room, in both panels
  for (size_t i = 0; i < boxes.size(); ++i) {
    for (size_t j = i + 1; j < boxes.size(); ++j) {
      const LabelBox& a = boxes[i];
      const LabelBox& b = boxes[j];
      EXPECT_FALSE(a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1)
          << labels[i] << " covers " << labels[j];
    }
  }
}

}  // namespace
}  // namespace nas
