// The search lifecycle without a database: promotion, supernet phases, budget end, front
// changes, and a whole refill over a reader of plain structs.
#include "engine/lifecycle.h"

#include "gtest/gtest.h"
#include "search/search_space.h"

namespace nas::engine {
namespace {

using nas::v1::SearchSpec;

SearchSpec Spec(int max_candidates = 8, int max_parallel = 4) {
  SearchSpec spec;
  spec.set_dataset("fashion-mnist");
  spec.mutable_space()->set_name("mobilenetv2");
  spec.mutable_strategy()->set_name("random");
  spec.mutable_strategy()->set_seed(3);
  spec.add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec.add_objectives()->set_metric(nas::v1::METRIC_PARAMS);
  spec.mutable_budget()->set_max_candidates(max_candidates);
  spec.mutable_budget()->set_max_parallel(max_parallel);
  spec.mutable_budget()->set_max_attempts(3);
  spec.mutable_recipe()->set_epochs(1);
  spec.mutable_recipe()->set_batch_size(128);
  return spec;
}

SearchSpec MultiFidelity(int rungs, int eta = 2) {
  SearchSpec spec = Spec(/*max_candidates=*/8, /*max_parallel=*/8);
  spec.mutable_multi_fidelity()->set_rungs(rungs);
  spec.mutable_multi_fidelity()->set_eta(eta);
  return spec;
}

SearchSpec WeightSharing(int epochs, int64_t reuse = 0) {
  SearchSpec spec = Spec();
  spec.mutable_strategy()->set_name("weight_sharing");
  (*spec.mutable_strategy()->mutable_settings())["supernet_epochs"] = std::to_string(epochs);
  if (reuse != 0) {
    (*spec.mutable_strategy()->mutable_settings())["supernet_search"] = std::to_string(reuse);
  }
  return spec;
}

nas::v1::Architecture Arch(int seed) {
  const SearchSpaceDef space = *ResolveSearchSpace(Spec().space());
  std::mt19937_64 rng(seed);
  return SampleArchitecture(space, rng);
}

// A search as plain structs, counting what the engine read.
class FakeReader : public SearchReader {
 public:
  int64_t search_id() const override { return 42; }
  absl::StatusOr<QueueView> Queue(bool lock) override {
    ++(lock ? locked_reads : unlocked_reads);
    return queue;
  }
  absl::StatusOr<SupernetEpochs> Supernet() override {
    ++supernet_reads;
    return supernet;
  }
  absl::StatusOr<RungResults> Rungs(int) override {
    ++rung_reads;
    return rungs;
  }
  absl::StatusOr<StrategyView> Strategy() override {
    ++strategy_reads;
    return strategy;
  }

  QueueView queue;
  SupernetEpochs supernet;
  RungResults rungs;
  StrategyView strategy;
  int unlocked_reads = 0, locked_reads = 0, supernet_reads = 0, rung_reads = 0, strategy_reads = 0;
};

FakeReader Running(const SearchSpec& spec) {
  FakeReader r;
  r.queue.spec = spec;
  r.queue.running = true;
  r.queue.budget.target = EvaluationTarget(spec);
  return r;
}

RungEntry Entry(int64_t id, int rung, double accuracy, int arch_seed) {
  RungEntry e;
  e.candidate_id = id;
  e.rung = rung;
  e.ranked.objectives = {-accuracy, 1000};
  e.architecture = Arch(arch_seed);
  e.arch_hash = CanonicalKey(e.architecture);
  return e;
}

// --- Budget end -------------------------------------------------------------------------------

TEST(BudgetTest, EndsWhenEvaluatedAndFailedReachTheTarget) {
  EXPECT_FALSE(EndIfBudgetSpent({.target = 5, .evaluated = 3, .failed = 1}, ""));
  const std::optional<SearchEnd> end = EndIfBudgetSpent({5, 4, 1}, "");
  ASSERT_TRUE(end);
  EXPECT_EQ(end->state, "SUCCEEDED");
  EXPECT_EQ(end->message, "budget spent: 4 evaluated, 1 failed");
  EXPECT_EQ(BudgetSpent({7, 6, 1}, "4, 2").message,
            "budget spent: 6 evaluated (per rung 4, 2), 1 failed");
}

TEST(BudgetTest, MultiFidelityTargetCountsEveryPossiblePromotion) {
  EXPECT_EQ(EvaluationTarget(Spec(8)), 8);
  EXPECT_EQ(EvaluationTarget(MultiFidelity(3)), 8 + 4 + 2);
  EXPECT_EQ(FinalRung(MultiFidelity(3)), 2);
  EXPECT_EQ(FinalRung(Spec()), 0);
}

TEST(RefillTest, SpentBudgetEndsTheSearchWithoutAskingTheStrategy) {
  FakeReader r = Running(Spec(4));
  r.queue.budget = {4, 3, 1};
  StrategyCache strategies;
  const RefillPlan plan = *PlanRefill(r, strategies);
  ASSERT_TRUE(plan.end);
  EXPECT_EQ(plan.end->message, "budget spent: 3 evaluated, 1 failed");
  EXPECT_TRUE(plan.proposals.empty());
  EXPECT_EQ(r.strategy_reads, 0);
}

TEST(RefillTest, OverdueSearchEnds) {
  FakeReader r = Running(Spec());
  r.queue.overdue = true;
  r.queue.outstanding = r.queue.queued = 4;  // a full queue does not save it
  StrategyCache strategies;
  const RefillPlan plan = *PlanRefill(r, strategies);
  ASSERT_TRUE(plan.end);
  EXPECT_EQ(plan.end->message, "wall-clock budget spent");
}

TEST(RefillTest, FullQueueCostsOneUnlockedRead) {
  FakeReader r = Running(Spec(/*max_candidates=*/100, /*max_parallel=*/8));
  r.queue.queued = r.queue.outstanding = 7;  // room 1 < a batch of 2
  StrategyCache strategies;
  const RefillPlan plan = *PlanRefill(r, strategies);
  EXPECT_FALSE(plan.end);
  EXPECT_TRUE(plan.proposals.empty());
  EXPECT_EQ(r.unlocked_reads, 1);
  EXPECT_EQ(r.locked_reads, 0);
}

TEST(RefillTest, ProposesWhatTheRoomAndBudgetAllowAndCountsDryRefills) {
  FakeReader r = Running(Spec(/*max_candidates=*/6, /*max_parallel=*/4));
  r.queue.architectures = 3;  // 3 left in the budget, room 4
  r.strategy.dry_refills = 5;
  StrategyCache strategies;
  const RefillPlan plan = *PlanRefill(r, strategies);
  EXPECT_EQ(plan.proposals.size(), 3u);
  ASSERT_TRUE(plan.strategy_state.has_value());
  EXPECT_FALSE(plan.strategy_state->empty());
  EXPECT_EQ(plan.proposal_fidelity.epochs(), 1);
  // Nothing outstanding: a refill that inserts nothing is dry.
  EXPECT_EQ(plan.DryRefills(0), 6);
  EXPECT_EQ(plan.DryRefills(2), 0);
  EXPECT_FALSE(plan.ExhaustedEnd(0));
  r.strategy.dry_refills = kDryRefillsToExhaust - 1;
  const RefillPlan dry = *PlanRefill(r, strategies);
  ASSERT_TRUE(dry.ExhaustedEnd(0));
  EXPECT_EQ(dry.ExhaustedEnd(0)->message, "search space exhausted after 3 distinct candidates");
}

// --- Successive-halving promotion ------------------------------------------------------------

TEST(PromotionTest, PromotesTheBestOfEachRungHighestRungFirst) {
  const SearchSpec spec = MultiFidelity(3);
  const std::vector<nas::v1::Fidelity> rungs = Rungs(spec);
  ASSERT_EQ(rungs.size(), 3u);
  RungResults results;
  results.present.resize(3);
  // Rung 0: four results, the best two promotable; rung 1: two, the best one promotable.
  results.entries = {Entry(1, 0, 0.70, 1), Entry(2, 0, 0.90, 2), Entry(3, 0, 0.80, 3),
                     Entry(4, 0, 0.60, 4), Entry(5, 1, 0.85, 5), Entry(6, 1, 0.95, 6)};
  const std::vector<Promotion> p = PlanPromotions(spec, rungs, results, /*room=*/8);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].from_candidate, 6);
  EXPECT_EQ(p[0].fidelity.rung(), 2);
  EXPECT_EQ(p[1].from_candidate, 2);
  EXPECT_EQ(p[2].from_candidate, 3);
  EXPECT_EQ(p[1].fidelity.rung(), 1);
}

TEST(PromotionTest, NeverPromotesAnArchitectureAlreadyAtTheNextRungAndRespectsTheRoom) {
  const SearchSpec spec = MultiFidelity(2);
  const std::vector<nas::v1::Fidelity> rungs = Rungs(spec);
  RungResults results;
  results.present.resize(2);
  results.entries = {Entry(1, 0, 0.70, 1), Entry(2, 0, 0.90, 2), Entry(3, 0, 0.80, 3),
                     Entry(4, 0, 0.60, 4)};
  results.present[1].insert(results.entries[1].arch_hash);  // candidate 2 went up already
  const std::vector<Promotion> p = PlanPromotions(spec, rungs, results, /*room=*/8);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].from_candidate, 3);
  EXPECT_EQ(p[0].architecture.SerializeAsString(),
            results.entries[2].architecture.SerializeAsString());
  results.present[1].clear();
  EXPECT_EQ(PlanPromotions(spec, rungs, results, /*room=*/1).size(), 1u);
  EXPECT_TRUE(PlanPromotions(spec, rungs, results, /*room=*/0).empty());
}

TEST(PromotionTest, RefillEndsAMultiFidelitySearchWithNothingLeftToTry) {
  FakeReader r = Running(MultiFidelity(2));
  r.queue.architectures = 8;  // every architecture tried, nothing outstanding
  r.queue.budget.evaluated = 9;
  r.queue.evaluated_per_rung = "8, 1";
  r.rungs.present.resize(2);
  StrategyCache strategies;
  const RefillPlan plan = *PlanRefill(r, strategies);
  EXPECT_EQ(r.rung_reads, 1);
  ASSERT_TRUE(plan.end);
  EXPECT_EQ(plan.end->message, "budget spent: 9 evaluated (per rung 8, 1), 0 failed");
}

TEST(PromotionTest, RefillQueuesPromotionsBeforeNewArchitectures) {
  FakeReader r = Running(MultiFidelity(2));
  r.queue.architectures = 4;
  r.rungs.present.resize(2);
  r.rungs.entries = {Entry(1, 0, 0.70, 1), Entry(2, 0, 0.90, 2), Entry(3, 0, 0.80, 3),
                     Entry(4, 0, 0.60, 4)};
  StrategyCache strategies;
  const RefillPlan plan = *PlanRefill(r, strategies);
  EXPECT_FALSE(plan.end);
  EXPECT_EQ(plan.promotions.size(), 2u);
  // Room 8: two promotions, then min(8 - 4 budget left, 8 - 2) = 4 new architectures.
  EXPECT_EQ(plan.proposals.size(), 4u);
}

// --- Supernet phases ---------------------------------------------------------------------------

TEST(SupernetTest, QueuesEpochsOneAtATimeThenIsReady) {
  const SearchSpec spec = WeightSharing(2);
  SupernetStep s = *NextSupernetStep(spec, {.evaluated = 0, .outstanding = 0});
  EXPECT_FALSE(s.ready);
  ASSERT_TRUE(s.queue);
  EXPECT_EQ(s.queue->rung(), -1);
  EXPECT_EQ(s.queue->epochs(), 1);
  EXPECT_EQ(s.message, "supernet epoch 1 of 2 queued");
  s = *NextSupernetStep(spec, {.evaluated = 1, .outstanding = 1});
  EXPECT_FALSE(s.ready);
  EXPECT_FALSE(s.queue);  // one epoch at a time
  s = *NextSupernetStep(spec, {.evaluated = 1, .outstanding = 0});
  ASSERT_TRUE(s.queue);
  EXPECT_EQ(s.queue->epochs(), 2);
  EXPECT_TRUE(NextSupernetStep(spec, {.evaluated = 2})->ready);
}

TEST(SupernetTest, AFailedEpochFailsTheSearch) {
  const SupernetStep s =
      *NextSupernetStep(WeightSharing(3), {.evaluated = 1, .failure = "out of memory"});
  EXPECT_FALSE(s.ready);
  ASSERT_TRUE(s.end);
  EXPECT_EQ(s.end->state, "FAILED");
  EXPECT_EQ(s.end->message, "supernet training failed: out of memory");
}

TEST(SupernetTest, ReusingAnotherSearchsSupernetIsReadyWithoutReadingEpochs) {
  FakeReader r = Running(WeightSharing(3, /*reuse=*/17));
  StrategyCache strategies;
  const RefillPlan plan = *PlanRefill(r, strategies);
  EXPECT_EQ(r.supernet_reads, 0);
  EXPECT_FALSE(plan.supernet_epoch);
  EXPECT_FALSE(plan.proposals.empty());
  EXPECT_TRUE(plan.proposal_fidelity.supernet_estimate());
}

TEST(SupernetTest, RefillQueuesTheLargestArchitectureAsTheEpoch) {
  FakeReader r = Running(WeightSharing(3));
  r.supernet.evaluated = 1;
  StrategyCache strategies;
  const RefillPlan plan = *PlanRefill(r, strategies);
  ASSERT_TRUE(plan.supernet_epoch);
  EXPECT_EQ(plan.supernet_epoch->epochs(), 2);
  EXPECT_EQ(plan.supernet_architecture.SerializeAsString(),
            LargestArchitecture(*ResolveSearchSpace(r.queue.spec.space())).SerializeAsString());
  EXPECT_TRUE(plan.proposals.empty());
  EXPECT_EQ(r.strategy_reads, 0);
}

// --- Front changes ---------------------------------------------------------------------------

TEST(FrontTest, JoinsDisplacesAndMeasuresHypervolume) {
  const SearchSpec spec = Spec();
  nas::v1::HardwareProfile profile;
  profile.set_name("board");
  nas::v1::CandidateMetrics m;
  m.set_val_accuracy(0.9);
  m.set_params(1000);
  // Members: (acc 0.8, 2000 params) is dominated by the newcomer; (0.95, 5000) is not.
  std::vector<ParetoArchive::Member> members = {{1, {-0.8, 2000}}, {2, {-0.95, 5000}}};
  const FrontChange c = OfferToFront(spec, profile, 3, m, {}, members);
  EXPECT_TRUE(c.joined);
  EXPECT_EQ(c.removed, std::vector<int64_t>{1});
  EXPECT_EQ(c.members, 2u);
  EXPECT_EQ(c.objectives, (std::vector<double>{-0.9, 1000}));
  ASSERT_TRUE(c.hypervolume);
  EXPECT_GT(*c.hypervolume, 0);
  EXPECT_EQ(c.Describe(3, "board").substr(0, 60),
            "candidate 3 joined the board front (2 members, 1 displaced; ");
}

TEST(FrontTest, ADominatedCandidateChangesNothing) {
  nas::v1::CandidateMetrics m;
  m.set_val_accuracy(0.7);
  m.set_params(3000);
  const FrontChange c =
      OfferToFront(Spec(), nas::v1::HardwareProfile(), 3, m, {}, {{1, {-0.8, 2000}}});
  EXPECT_FALSE(c.joined);
  EXPECT_TRUE(c.removed.empty());
  EXPECT_FALSE(c.hypervolume);
}

}  // namespace
}  // namespace nas::engine
