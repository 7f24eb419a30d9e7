#include "engine/lifecycle.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/validation_split.h"
#include "glog/logging.h"
#include "search/cost_model.h"
#include "search/hardware_profile.h"
#include "search/hypervolume.h"
#include "search/search_space.h"
#include "search/weight_sharing.h"

namespace nas::engine {

using nas::v1::Fidelity;
using nas::v1::SearchSpec;

int QueueView::Room() const { return spec.budget().max_parallel() - outstanding; }

int QueueView::Need() const {
  return std::min(spec.budget().max_candidates() - architectures, Room());
}

int RefillPlan::DryRefills(int inserted) const {
  return (inserted == 0 && nothing_outstanding) ? previous_dry_refills + 1 : 0;
}

std::optional<SearchEnd> RefillPlan::ExhaustedEnd(int inserted) const {
  if (DryRefills(inserted) < kDryRefillsToExhaust) return std::nullopt;
  return SearchEnd{"SUCCEEDED", absl::StrCat("search space exhausted after ", architectures,
                                             " distinct candidates")};
}

std::vector<Fidelity> Rungs(const SearchSpec& spec) {
  if (IsWeightSharing(spec.strategy())) {
    const absl::StatusOr<WeightSharingPlan> plan = ParseWeightSharing(spec.strategy());
    Fidelity estimate;
    estimate.set_supernet_estimate(true);
    Fidelity finetune;
    finetune.set_rung(1);
    finetune.set_epochs(spec.recipe().epochs());
    finetune.set_train_subset(spec.recipe().train_subset());
    finetune.set_init_from_supernet(!plan.ok() || plan->finetune_from_supernet);
    return {estimate, finetune};
  }
  if (spec.has_multi_fidelity()) {
    absl::StatusOr<std::vector<Fidelity>> rungs =
        FidelityRungs(spec.recipe(), spec.multi_fidelity().eta(), spec.multi_fidelity().rungs());
    if (rungs.ok()) return *std::move(rungs);
    // Unreachable for a stored spec (validated at submission); train at full fidelity.
    LOG(ERROR) << "multi_fidelity of a stored spec: " << rungs.status();
  }
  Fidelity full;
  full.set_epochs(spec.recipe().epochs());
  full.set_train_subset(spec.recipe().train_subset());
  return {full};
}

int FinalRung(const SearchSpec& spec) {
  return spec.has_multi_fidelity() ? spec.multi_fidelity().rungs() - 1 : 0;
}

int SearchPhaseTarget(const SearchSpec& spec) {
  const int n = spec.budget().max_candidates();
  if (!spec.has_multi_fidelity()) return n;
  // A multi-fidelity search's reference trains at the final rung only, beside the
  // architectures of the budget.
  return static_cast<int>(
             MaxEvaluations(n, spec.multi_fidelity().eta(), spec.multi_fidelity().rungs())) +
         (spec.has_reference() ? 1 : 0);
}

Fidelity ReferenceFidelity(const SearchSpec& spec) {
  return spec.has_multi_fidelity() ? Rungs(spec).back() : Rungs(spec).front();
}

int EvaluationTarget(const SearchSpec& spec) {
  return SearchPhaseTarget(spec) + MaxFinalists(spec);
}

bool HasFinalTraining(const SearchSpec& spec) {
  return spec.final_training().finalists_per_profile() > 0;
}

int MaxFinalists(const SearchSpec& spec) {
  if (!HasFinalTraining(spec)) return 0;
  return spec.final_training().finalists_per_profile() * spec.profile_ids_size() +
         (spec.has_reference() ? 1 : 0);
}

Fidelity FinalTrainingFidelity(const SearchSpec& spec) {
  Fidelity f;
  f.set_rung(FinalRung(spec) + 1);
  f.set_final_training(true);
  return f;
}

nas::v1::TrainingRecipe RecipeFor(const SearchSpec& spec, const Fidelity& fidelity) {
  nas::v1::TrainingRecipe recipe = spec.recipe();
  if (!fidelity.final_training()) return recipe;
  const nas::v1::FinalTraining& ft = spec.final_training();
  if (ft.epochs() > 0) recipe.set_epochs(ft.epochs());
  recipe.set_train_subset(ft.train_subset());
  return recipe;
}

namespace {

// Examples a recipe trains on per epoch, given the dataset's training split (0: unknown, when
// only an explicit train_subset is known).
int64_t ExamplesPerEpoch(const nas::v1::TrainingRecipe& recipe, int64_t train_examples) {
  if (train_examples <= 0) return recipe.train_subset();
  const absl::StatusOr<int64_t> validation = ValidationExamples(recipe, "", train_examples);
  const int64_t available = train_examples - (validation.ok() ? *validation : 0);
  return recipe.train_subset() > 0 ? std::min<int64_t>(recipe.train_subset(), available)
                                   : available;
}

}  // namespace

double FinalTrainingReserveSeconds(const SearchSpec& spec, const SearchPhaseTimes& t) {
  if (!HasFinalTraining(spec) || t.mean_train_seconds <= 0) return 0;
  Fidelity final_fidelity;
  final_fidelity.set_final_training(true);
  const nas::v1::TrainingRecipe searched = spec.recipe();
  const nas::v1::TrainingRecipe finals = RecipeFor(spec, final_fidelity);
  double scale = static_cast<double>(std::max(1, finals.epochs())) / std::max(1, searched.epochs());
  const int64_t searched_examples = ExamplesPerEpoch(searched, t.train_examples);
  const int64_t final_examples = ExamplesPerEpoch(finals, t.train_examples);
  if (searched_examples > 0 && final_examples > 0) {
    scale *= static_cast<double>(final_examples) / searched_examples;
  }
  const double slowest = std::max(t.slowest_train_seconds, t.mean_train_seconds);
  const int finalists = MaxFinalists(spec);
  const int parallel = std::max(1, spec.budget().max_parallel());
  const double spread = (slowest + (finalists - 1) * t.mean_train_seconds) / parallel;
  return 1.25 * scale * std::max(slowest, spread);
}

std::vector<FinalistPlan> SelectFinalists(const SearchSpec& spec,
                                          const std::vector<FrontView>& fronts) {
  std::vector<FinalistPlan> out;
  absl::flat_hash_set<std::string> chosen;  // canonical keys
  const std::string reference_key =
      spec.has_reference() ? CanonicalKey(spec.reference().architecture()) : "";
  auto add = [&](const nas::v1::Architecture& arch, int64_t from, bool reference) {
    const std::string key = CanonicalKey(arch);
    if (!chosen.insert(key).second) return;
    // A front member may be the reference network itself.
    out.push_back({from, reference || key == reference_key, arch});
  };
  const int per_profile = spec.final_training().finalists_per_profile();
  for (const FrontView& front : fronts) {
    std::vector<const FrontEntry*> members;
    for (const FrontEntry& m : front.members) members.push_back(&m);
    std::sort(members.begin(), members.end(), [](const FrontEntry* a, const FrontEntry* b) {
      const double av = a->objectives.empty() ? 0 : a->objectives[0];
      const double bv = b->objectives.empty() ? 0 : b->objectives[0];
      return av != bv ? av < bv : a->candidate_id < b->candidate_id;
    });
    const int n = static_cast<int>(members.size());
    const int k = std::min(per_profile, n);
    for (int i = 0; i < k; ++i) {
      // Evenly spaced ranks from the best (0) to the last (n - 1) on the first objective.
      const int rank = k == 1 ? 0 : static_cast<int>(std::lround(1.0 * i * (n - 1) / (k - 1)));
      add(members[rank]->architecture, members[rank]->candidate_id, false);
    }
  }
  if (!out.empty() && spec.has_reference()) add(spec.reference().architecture(), 0, true);
  // Queued (and leased: candidates are leased in id order) most multiply-accumulates first: the
  // longest training starts at once and the shorter ones fill the other workers around it.
  // Queued in selection order, the reference (usually the largest) waited behind every other
  // finalist: measured on the compression headline, ResNet-18's hour of final training started
  // only when the first of three smaller finalists had finished. The input's shape barely
  // changes the order, so Fashion-MNIST's stands for the dataset's.
  std::vector<int64_t> macs;
  for (const FinalistPlan& f : out) {
    macs.push_back(EstimateCost(f.architecture, FashionMnistInput()).macs);
  }
  std::vector<size_t> order(out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return macs[a] > macs[b]; });
  std::vector<FinalistPlan> longest_first;
  for (size_t i : order) longest_first.push_back(std::move(out[i]));
  return longest_first;
}

std::vector<double> ObjectiveVector(const SearchSpec& spec, const nas::v1::CandidateMetrics& m,
                                    const nas::v1::ProfileMetrics& pm) {
  std::vector<double> v;
  for (const nas::v1::Objective& o : spec.objectives()) {
    v.push_back(MinimisationForm(o.metric(), ObjectiveValue(o.metric(), m, pm)));
  }
  return v;
}

bool WorthLocking(const QueueView& view) {
  if (view.overdue) return true;
  // Final training: nothing to queue, only the end once every finalist is done.
  if (view.finalists > 0) return view.finalists_outstanding == 0;
  if (SearchPhaseOver(view).has_value()) return true;
  // A multi-fidelity search may also have promotions to queue, or be done.
  const int can = view.spec.has_multi_fidelity() ? view.Room() : view.Need();
  const int batch = std::max(1, view.spec.budget().max_parallel() / 4);
  return can > 0 && (view.queued == 0 || can >= batch);
}

SearchEnd BudgetSpent(const Budget& b, absl::string_view evaluated_per_rung) {
  return {"SUCCEEDED", absl::StrCat("budget spent: ", b.evaluated, " evaluated",
                                    evaluated_per_rung.empty()
                                        ? ""
                                        : absl::StrCat(" (per rung ", evaluated_per_rung, ")"),
                                    ", ", b.failed, " failed")};
}

SearchEnd Overdue() { return {"SUCCEEDED", "wall-clock budget spent"}; }

SearchEnd FinalTrainingDone(const Budget& b, absl::string_view search_phase_end) {
  return {"SUCCEEDED", absl::StrCat(search_phase_end, "; then final training: ", b.evaluated,
                                    " evaluated, ", b.failed, " failed in all")};
}

std::optional<SearchEnd> EndIfBudgetSpent(const Budget& b, absl::string_view evaluated_per_rung,
                                          absl::string_view search_phase_end) {
  if (b.evaluated + b.failed < b.target) return std::nullopt;
  if (!search_phase_end.empty()) return FinalTrainingDone(b, search_phase_end);
  return BudgetSpent(b, evaluated_per_rung);
}

std::optional<SearchEnd> SearchPhaseOver(const QueueView& view) {
  if (!HasFinalTraining(view.spec) || view.finalists > 0) return std::nullopt;
  Budget phase = view.budget;
  phase.target = SearchPhaseTarget(view.spec);
  if (std::optional<SearchEnd> spent = EndIfBudgetSpent(phase, view.evaluated_per_rung)) {
    return spent;
  }
  const double reserve = FinalTrainingReserveSeconds(view.spec, view.phase_times);
  if (view.seconds_left.has_value() && reserve > 0 && *view.seconds_left <= reserve) {
    return SearchEnd{"SUCCEEDED",
                     absl::StrFormat("wall-clock budget: search phase ended %.0f s before the "
                                     "deadline, the finalists' estimated time",
                                     *view.seconds_left)};
  }
  return std::nullopt;
}

absl::Status ConcludeSearchPhase(SearchReader& reader, const SearchSpec& spec, SearchEnd reason,
                                 RefillPlan* plan) {
  if (!HasFinalTraining(spec)) {
    plan->end = std::move(reason);
    return absl::OkStatus();
  }
  NAS_ASSIGN_OR_RETURN(const std::vector<FrontView> fronts, reader.Fronts());
  plan->finalists = SelectFinalists(spec, fronts);
  if (plan->finalists.empty()) {
    reason.message += "; no finalist to train: every front is empty";
    plan->end = std::move(reason);
    return absl::OkStatus();
  }
  plan->search_phase_end = reason.message;
  return absl::OkStatus();
}

absl::StatusOr<SupernetStep> NextSupernetStep(const SearchSpec& spec,
                                              const SupernetEpochs& epochs) {
  NAS_ASSIGN_OR_RETURN(WeightSharingPlan plan, ParseWeightSharing(spec.strategy()));
  SupernetStep step;
  if (plan.supernet_search != 0) {
    step.ready = true;
    return step;
  }
  if (epochs.failure.has_value()) {
    step.end = SearchEnd{"FAILED", absl::StrCat("supernet training failed: ", *epochs.failure)};
    return step;
  }
  if (epochs.evaluated >= plan.supernet_epochs) {
    step.ready = true;
    return step;
  }
  if (epochs.outstanding > 0) return step;
  const int epoch = epochs.evaluated + 1;
  Fidelity fidelity;
  fidelity.set_rung(-1);
  fidelity.set_epochs(epoch);
  step.queue = fidelity;
  step.message = absl::StrCat("supernet epoch ", epoch, " of ", plan.supernet_epochs, " queued");
  return step;
}

std::vector<Promotion> PlanPromotions(const SearchSpec& spec, const std::vector<Fidelity>& rungs,
                                      const RungResults& results, int room) {
  const int final_rung = static_cast<int>(rungs.size()) - 1;
  std::vector<std::vector<const RungEntry*>> by_rung(std::max(0, final_rung));
  for (const RungEntry& e : results.entries) {
    if (e.rung >= 0 && e.rung < final_rung) by_rung[e.rung].push_back(&e);
  }
  auto present = [&](int rung, const std::string& hash) {
    return rung < static_cast<int>(results.present.size()) && results.present[rung].contains(hash);
  };
  std::vector<Promotion> out;
  for (int rung = final_rung - 1; rung >= 0 && static_cast<int>(out.size()) < room; --rung) {
    std::vector<RungResult> ranked;
    absl::flat_hash_set<int64_t> promoted;
    absl::flat_hash_map<int64_t, const RungEntry*> by_id;
    for (const RungEntry* e : by_rung[rung]) {
      ranked.push_back({e->candidate_id, e->ranked});
      by_id[e->candidate_id] = e;
      if (present(rung + 1, e->arch_hash)) promoted.insert(e->candidate_id);
    }
    for (int64_t id : Promotable(ranked, spec.multi_fidelity().eta(), promoted)) {
      if (static_cast<int>(out.size()) >= room) break;
      const RungEntry& e = *by_id[id];
      out.push_back({id, rung, e.architecture, rungs[rung + 1]});
    }
  }
  return out;
}

absl::StatusOr<RefillPlan> PlanRefill(SearchReader& reader, StrategyCache& strategies) {
  RefillPlan plan;
  // Decide without a lock first: most refills find the queue full enough, and a locking read
  // costs a write and a commit.
  NAS_ASSIGN_OR_RETURN(const QueueView peek, reader.Queue(/*lock=*/false));
  if (!peek.running || !WorthLocking(peek)) return plan;
  NAS_ASSIGN_OR_RETURN(const QueueView view, reader.Queue(/*lock=*/true));
  if (!view.running) return plan;
  const SearchSpec& spec = view.spec;
  if (view.overdue) {
    plan.end = Overdue();
    if (view.finalists > 0) {
      plan.end->message =
          absl::StrCat(view.search_phase_end, "; final training stopped: ", plan.end->message);
    }
    return plan;
  }
  if (view.finalists > 0) {
    // Final training: the finalists were queued at once; the search ends when they are done
    // (a report's EndIfBudgetSpent(), or here when a finalist was cancelled).
    if (view.finalists_outstanding == 0) {
      plan.end = FinalTrainingDone(view.budget, view.search_phase_end);
    }
    return plan;
  }
  if (std::optional<SearchEnd> over = SearchPhaseOver(view)) {
    NAS_RETURN_IF_ERROR(ConcludeSearchPhase(reader, spec, *std::move(over), &plan));
    return plan;
  }
  if ((plan.end = EndIfBudgetSpent(view.budget, view.evaluated_per_rung))) return plan;

  if (IsWeightSharing(spec.strategy())) {
    NAS_ASSIGN_OR_RETURN(const WeightSharingPlan ws, ParseWeightSharing(spec.strategy()));
    SupernetEpochs epochs;
    if (ws.supernet_search == 0) {
      NAS_ASSIGN_OR_RETURN(epochs, reader.Supernet());
    }
    NAS_ASSIGN_OR_RETURN(SupernetStep step, NextSupernetStep(spec, epochs));
    if (!step.ready) {
      plan.end = step.end;
      if (step.queue.has_value()) {
        NAS_ASSIGN_OR_RETURN(SearchSpaceDef space, ResolveSearchSpace(spec.space()));
        plan.supernet_epoch = step.queue;
        plan.supernet_architecture = LargestArchitecture(space);
        plan.supernet_message = step.message;
      }
      return plan;
    }
  }

  const std::vector<Fidelity> rungs = Rungs(spec);
  const bool multi_fidelity = spec.has_multi_fidelity();
  if (multi_fidelity && view.Room() > 0) {
    NAS_ASSIGN_OR_RETURN(const RungResults results,
                         reader.Rungs(static_cast<int>(rungs.size()) - 1));
    plan.promotions = PlanPromotions(spec, rungs, results, view.Room());
  }
  const int promoted = static_cast<int>(plan.promotions.size());
  const int need = std::min(view.Need(), view.Room() - promoted);
  if (multi_fidelity && need <= 0 && promoted == 0 && view.outstanding == 0 &&
      view.architectures >= spec.budget().max_candidates()) {
    // Every architecture was tried and nothing can be promoted any more.
    NAS_RETURN_IF_ERROR(ConcludeSearchPhase(
        reader, spec, BudgetSpent(view.budget, view.evaluated_per_rung), &plan));
    return plan;
  }
  if (need <= 0) return plan;

  NAS_ASSIGN_OR_RETURN(StrategyView sv, reader.Strategy());
  StrategyRequest request;
  request.search_id = reader.search_id();
  request.spec = &spec;
  request.profiles = std::move(sv.profiles);
  request.saved_state = std::move(sv.saved_state);
  request.generation = sv.generation;
  request.new_observations = std::move(sv.new_observations);
  request.need = need;
  request.candidates_after = [&reader](int64_t after_id) {
    return reader.CandidatesAfter(after_id);
  };
  NAS_ASSIGN_OR_RETURN(StrategyAnswer answer, strategies.Propose(request));
  plan.proposals = std::move(answer.proposals);
  plan.proposal_fidelity = rungs.front();
  plan.strategy_state = std::move(answer.state);
  plan.observed_through = sv.observed_through;
  plan.previous_dry_refills = sv.dry_refills;
  plan.nothing_outstanding = view.outstanding == 0;
  plan.architectures = view.architectures;
  return plan;
}

std::string FrontChange::Describe(int64_t candidate_id, absl::string_view profile_name) const {
  return absl::StrCat(
      "candidate ", candidate_id, " joined the ", profile_name, " front (", members, " members, ",
      removed.size(), " displaced; hypervolume ",
      normalized_hypervolume ? absl::StrFormat("%.4f", *normalized_hypervolume) : "-", ")");
}

FrontChange OfferToFront(const SearchSpec& spec, const nas::v1::HardwareProfile& profile,
                         int64_t candidate_id, const nas::v1::CandidateMetrics& metrics,
                         const nas::v1::ProfileMetrics& on_profile,
                         std::vector<ParetoArchive::Member> members) {
  FrontChange change;
  change.objectives = ObjectiveVector(spec, metrics, on_profile);
  ParetoArchive front(std::move(members));
  change.joined = front.Insert(candidate_id, change.objectives, &change.removed);
  change.members = front.members().size();
  if (!change.joined) return change;
  std::vector<std::vector<double>> points;
  for (const ParetoArchive::Member& m : front.members()) points.push_back(m.values);
  const std::vector<double> reference =
      HypervolumeReference(spec.objectives(), spec.constraints(), profile);
  const absl::StatusOr<double> hv = Hypervolume(points, reference);
  if (hv.ok()) {
    change.hypervolume = *hv;
    change.normalized_hypervolume = NormalizedHypervolume(*hv, reference, spec.objectives());
  }
  return change;
}

}  // namespace nas::engine
