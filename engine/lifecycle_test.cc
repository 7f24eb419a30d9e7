// The search lifecycle without a database: promotion, supernet phases, budget end, front
// changes, and a whole refill over a reader of plain structs.
#include "engine/lifecycle.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "search/cost_model.h"
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
  absl::StatusOr<std::vector<FrontView>> Fronts() override {
    ++front_reads;
    return fronts;
  }

  QueueView queue;
  std::vector<FrontView> fronts;
  int front_reads = 0;
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

// --- Final training ---------------------------------------------------------------------------

SearchSpec WithFinalTraining(int per_profile, int profiles = 2) {
  SearchSpec spec = Spec(/*max_candidates=*/6, /*max_parallel=*/2);
  for (int i = 0; i < profiles; ++i) spec.add_profile_ids(absl::StrCat("p", i));
  spec.mutable_final_training()->set_finalists_per_profile(per_profile);
  spec.mutable_final_training()->set_epochs(4);
  return spec;
}

FrontView Front(const std::string& profile, std::vector<std::pair<int64_t, double>> members) {
  FrontView f{profile, {}};
  for (const auto& [id, accuracy] : members) {
    f.members.push_back({id, {-accuracy, 1000.0 * accuracy}, Arch(static_cast<int>(id))});
  }
  return f;
}

TEST(FinalTrainingTest, TargetRecipeAndFidelityCountTheFinalists) {
  SearchSpec spec = WithFinalTraining(3);
  EXPECT_EQ(MaxFinalists(spec), 6);
  EXPECT_EQ(SearchPhaseTarget(spec), 6);
  EXPECT_EQ(EvaluationTarget(spec), 12);
  *spec.mutable_reference()->mutable_architecture() = Arch(99);
  EXPECT_EQ(MaxFinalists(spec), 7);
  spec.mutable_recipe()->set_train_subset(5000);
  const nas::v1::Fidelity f = FinalTrainingFidelity(spec);
  EXPECT_TRUE(f.final_training());
  EXPECT_EQ(f.rung(), 1);
  const nas::v1::TrainingRecipe final_recipe = RecipeFor(spec, f);
  EXPECT_EQ(final_recipe.epochs(), 4);
  EXPECT_EQ(final_recipe.train_subset(), 0);  // the whole training split
  EXPECT_EQ(RecipeFor(spec, Rungs(spec).front()).train_subset(), 5000);
  EXPECT_EQ(FinalTrainingFidelity(MultiFidelity(3)).rung(), 3);
  // A multi-fidelity search's reference trains at the final rung, beside the budget.
  SearchSpec mf = MultiFidelity(3);
  EXPECT_EQ(ReferenceFidelity(mf).rung(), 2);
  EXPECT_EQ(ReferenceFidelity(mf).train_fraction(), 0);
  *mf.mutable_reference()->mutable_architecture() = Arch(99);
  EXPECT_EQ(SearchPhaseTarget(mf), 8 + 4 + 2 + 1);
  EXPECT_EQ(ReferenceFidelity(Spec()).rung(), 0);
  EXPECT_EQ(MaxFinalists(Spec()), 0);
}

TEST(FinalTrainingTest, SelectsSpreadMembersOncePerArchitectureAndTheReference) {
  SearchSpec spec = WithFinalTraining(2);
  *spec.mutable_reference()->mutable_architecture() = Arch(99);
  // Front p0: 4 members; the two chosen are its most accurate and its last on accuracy.
  // Front p1 holds candidate 1 again (chosen once) and 7.
  const std::vector<FinalistPlan> chosen =
      SelectFinalists(spec, {Front("p0", {{2, 0.80}, {1, 0.90}, {3, 0.70}, {4, 0.60}}),
                             Front("p1", {{7, 0.85}, {1, 0.90}})});
  std::vector<int64_t> from;
  std::vector<int64_t> macs;
  for (const FinalistPlan& f : chosen) {
    from.push_back(f.from_candidate);
    macs.push_back(EstimateCost(f.architecture, FashionMnistInput()).macs);
    EXPECT_EQ(f.reference, f.from_candidate == 0);
    if (f.reference) EXPECT_EQ(CanonicalKey(f.architecture), CanonicalKey(Arch(99)));
  }
  std::vector<int64_t> which = from;
  std::sort(which.begin(), which.end());
  EXPECT_EQ(which, (std::vector<int64_t>{0, 1, 4, 7}));
  // In the order to queue them: most multiply-accumulates first.
  EXPECT_TRUE(std::is_sorted(macs.begin(), macs.end(), std::greater<int64_t>())) << macs[0];
  // Nothing on any front: no finalist, not even the reference.
  EXPECT_TRUE(SelectFinalists(spec, {Front("p0", {}), Front("p1", {})}).empty());
}

TEST(FinalTrainingTest, TheLargestFinalistIsQueuedFirst) {
  // The compression headline's case: the reference is the space's largest network, selected
  // last; it is queued first so that its long training overlaps the others'.
  SearchSpec spec = WithFinalTraining(1);
  *spec.mutable_reference()->mutable_architecture() =
      LargestArchitecture(*ResolveSearchSpace(spec.space()));
  const std::vector<FinalistPlan> chosen =
      SelectFinalists(spec, {Front("p0", {{1, 0.9}}), Front("p1", {{2, 0.8}})});
  ASSERT_EQ(chosen.size(), 3u);
  EXPECT_TRUE(chosen.front().reference);
  EXPECT_EQ(chosen.front().from_candidate, 0);
}

TEST(FinalTrainingTest, SpentSearchPhaseQueuesFinalistsInsteadOfEnding) {
  FakeReader r = Running(WithFinalTraining(1));
  r.queue.budget = {EvaluationTarget(r.queue.spec), 5, 1};  // 6 of the search phase's 6
  r.fronts = {Front("p0", {{3, 0.9}, {5, 0.8}}), Front("p1", {{5, 0.8}})};
  StrategyCache strategies;
  const absl::StatusOr<RefillPlan> plan = PlanRefill(r, strategies);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->end.has_value());
  ASSERT_EQ(plan->finalists.size(), 2u);
  EXPECT_EQ(plan->finalists[0].from_candidate, 3);
  EXPECT_EQ(plan->finalists[1].from_candidate, 5);
  EXPECT_EQ(plan->search_phase_end, "budget spent: 5 evaluated, 1 failed");
  EXPECT_EQ(r.strategy_reads, 0);
  EXPECT_TRUE(plan->proposals.empty());
}

TEST(FinalTrainingTest, EmptyFrontsEndTheSearchSayingSo) {
  FakeReader r = Running(WithFinalTraining(1));
  r.queue.budget = {EvaluationTarget(r.queue.spec), 0, 6};
  r.fronts = {Front("p0", {}), Front("p1", {})};
  StrategyCache strategies;
  const absl::StatusOr<RefillPlan> plan = PlanRefill(r, strategies);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_TRUE(plan->end.has_value());
  EXPECT_EQ(plan->end->message,
            "budget spent: 0 evaluated, 6 failed; no finalist to train: every front is empty");
}

TEST(FinalTrainingTest, FinalPhaseQueuesNothingAndEndsWhenTheFinalistsAreDone) {
  FakeReader r = Running(WithFinalTraining(1));
  r.queue.finalists = 2;
  r.queue.finalists_outstanding = 1;
  r.queue.search_phase_end = "budget spent: 6 evaluated, 0 failed";
  r.queue.budget = {8, 7, 0};
  StrategyCache strategies;
  EXPECT_FALSE(WorthLocking(r.queue));
  absl::StatusOr<RefillPlan> plan = PlanRefill(r, strategies);
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(plan->end.has_value());
  EXPECT_TRUE(plan->proposals.empty());
  // The last finalist was cancelled (a report ends the search otherwise): the refill ends it.
  r.queue.finalists_outstanding = 0;
  EXPECT_TRUE(WorthLocking(r.queue));
  plan = PlanRefill(r, strategies);
  ASSERT_TRUE(plan.ok() && plan->end.has_value());
  EXPECT_EQ(plan->end->message,
            "budget spent: 6 evaluated, 0 failed; then final training: 7 evaluated, 0 failed in "
            "all");
  // A report's end says the same.
  EXPECT_EQ(EndIfBudgetSpent({8, 8, 0}, "", r.queue.search_phase_end)->message,
            "budget spent: 6 evaluated, 0 failed; then final training: 8 evaluated, 0 failed in "
            "all");
  EXPECT_EQ(r.strategy_reads, 0);
}

TEST(FinalTrainingTest, DeadlineLeavesTheFinalistsTheirEstimatedTime) {
  SearchSpec spec = WithFinalTraining(1);  // 2 finalists, 2 in parallel: one wave
  spec.mutable_budget()->set_max_wall_seconds(3600);
  // 10 s per search model of 1 epoch; finalists train 4 epochs: 1.25 x 40 s = 50 s.
  EXPECT_DOUBLE_EQ(FinalTrainingReserveSeconds(spec, {10, 10, 0}), 50);
  EXPECT_DOUBLE_EQ(FinalTrainingReserveSeconds(spec, {0, 0, 0}), 0);
  FakeReader r = Running(spec);
  r.queue.budget = {EvaluationTarget(spec), 2, 0};
  r.queue.phase_times = {10, 10, 0};
  r.queue.seconds_left = 60;
  EXPECT_FALSE(SearchPhaseOver(r.queue).has_value());
  r.queue.seconds_left = 45;
  const std::optional<SearchEnd> over = SearchPhaseOver(r.queue);
  ASSERT_TRUE(over.has_value());
  EXPECT_EQ(over->message,
            "wall-clock budget: search phase ended 45 s before the deadline, the finalists' "
            "estimated time");
  r.fronts = {Front("p0", {{3, 0.9}}), Front("p1", {{3, 0.9}})};
  StrategyCache strategies;
  const absl::StatusOr<RefillPlan> plan = PlanRefill(r, strategies);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->finalists.size(), 1u);
  // Past the deadline during final training: the search ends, saying where it stood.
  r.queue.overdue = true;
  r.queue.finalists = 1;
  r.queue.finalists_outstanding = 1;
  r.queue.search_phase_end = over->message;
  const absl::StatusOr<RefillPlan> late = PlanRefill(r, strategies);
  ASSERT_TRUE(late.ok() && late->end.has_value());
  EXPECT_EQ(late->end->message,
            over->message + "; final training stopped: wall-clock budget spent");
}

TEST(FinalTrainingTest, TheEstimateCountsTheSlowestModelAndTheFinalExamples) {
  // The headline's shape: a reference 5x slower than the mean, searched on 10,000 examples for
  // 2 epochs, its finalists trained 8 epochs on the whole split. Before, the estimate was the
  // mean alone, epochs in proportion: 1.25 x 60 s x 4 x 3 waves = 900 s, while ResNet-18's
  // final training alone takes about an hour.
  SearchSpec spec = WithFinalTraining(2);  // 2 per profile, 2 profiles, the reference: 5
  *spec.mutable_reference()->mutable_architecture() = Arch(99);
  spec.mutable_recipe()->set_epochs(2);
  spec.mutable_recipe()->set_train_subset(10000);
  spec.mutable_recipe()->set_validation_examples(2000);
  spec.mutable_final_training()->set_epochs(8);
  spec.mutable_final_training()->set_train_subset(0);
  spec.mutable_budget()->set_max_parallel(2);
  ASSERT_EQ(MaxFinalists(spec), 5);
  // The dataset's size unknown: the whole split cannot be compared with the subset, so the
  // examples count alike; the slowest model (300 s) is a wave of its own, longer than the five
  // spread over two workers ((300 + 4 x 60) / 2 = 270 s): 1.25 x 4 x 300 s.
  EXPECT_NEAR(FinalTrainingReserveSeconds(spec, {60, 300, 0}), 1500, 1e-6);
  // Fashion-MNIST's 60,000 less 2,000 for validation: 5.8x the examples.
  EXPECT_NEAR(FinalTrainingReserveSeconds(spec, {60, 300, 60000}), 1500 * 5.8, 1e-6);
  // A final subset trains on what it names, the whole split at most.
  spec.mutable_final_training()->set_train_subset(20000);
  EXPECT_NEAR(FinalTrainingReserveSeconds(spec, {60, 300, 0}), 1500 * 2, 1e-6);
  spec.mutable_final_training()->set_train_subset(90000);
  EXPECT_NEAR(FinalTrainingReserveSeconds(spec, {60, 300, 60000}), 1500 * 5.8, 1e-6);
  // Models alike: the finalists spread over the workers.
  EXPECT_NEAR(FinalTrainingReserveSeconds(spec, {60, 60, 60000}), 1.25 * 4 * 5.8 * 150, 1e-6);
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
