// The evolutionary strategies over architectures (regularized evolution, NSGA-II), their
// variation operators, and their saved state, against a synthetic two-objective problem.
#include "search/evolution_strategy.h"

#include <set>

#include "gtest/gtest.h"
#include "search/hypervolume.h"
#include "search/nsga2_strategy.h"
#include "search/population.h"
#include "search/strategy.h"

namespace nas {
namespace {

SearchSpaceDef Narrowed() {
  nas::v1::SearchSpace req;
  req.set_name("mobilenetv2");
  req.add_kernels(3);
  req.add_kernels(5);
  req.add_expansions(3);
  req.add_expansions(6);
  req.set_max_depth(3);
  req.add_resolutions(24);
  req.add_resolutions(28);
  return *ResolveSearchSpace(req);
}

// A made-up evaluation with two conflicting objectives (minimisation form): "accuracy" grows
// with kernels, expansions and depth; "cost" with the same and with width and resolution.
Observation Evaluate(const nas::v1::Architecture& a, int64_t id) {
  double capacity = 0, cost = a.resolution() * 0.01 + a.stem_width() * 0.01;
  for (const auto& s : a.stages()) {
    for (const auto& b : s.blocks()) {
      capacity += b.kernel() * 0.1 + b.expansion() * 0.1 + (b.squeeze_excite() ? 0.3 : 0);
      cost += b.kernel() * b.expansion() * s.width() * 0.001;
    }
  }
  Observation o;
  o.candidate_id = id;
  o.architecture = a;
  o.objectives = {-capacity / (1 + 0.02 * cost), cost};
  o.feasible = cost < 25;
  o.violation = o.feasible ? 0 : 1;
  return o;
}

std::unique_ptr<SearchStrategy> Make(const std::string& name, uint64_t seed,
                                     std::map<std::string, std::string> settings = {},
                                     const std::vector<double>& reference = {}) {
  nas::v1::Strategy spec;
  spec.set_name(name);
  spec.set_seed(seed);
  for (const auto& [k, v] : settings) (*spec.mutable_settings())[k] = v;
  absl::StatusOr<std::unique_ptr<SearchStrategy>> s = MakeStrategy(spec, Narrowed(), reference);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

// Runs `rounds` of propose-4 / observe-4 and returns every observation.
// With `single`, only the first objective (capacity) is optimised, under the cost limit.
std::vector<Observation> Drive(SearchStrategy& s, int rounds, int64_t* next_id,
                               bool single = false) {
  std::vector<Observation> all;
  for (int r = 0; r < rounds; ++r) {
    std::vector<Observation> batch;
    for (const auto& a : s.Propose(4)) {
      batch.push_back(Evaluate(a, (*next_id)++));
      if (single) batch.back().objectives.resize(1);
    }
    s.Observe(batch);
    all.insert(all.end(), batch.begin(), batch.end());
  }
  return all;
}

TEST(VariationTest, MutationAndCrossoverStayInsideTheNarrowedSpace) {
  const SearchSpaceDef space = Narrowed();
  std::mt19937_64 rng(3);
  int changed = 0;
  for (int i = 0; i < 2000; ++i) {
    const nas::v1::Architecture a = SampleArchitecture(space, rng);
    const nas::v1::Architecture b = SampleArchitecture(space, rng);
    const nas::v1::Architecture m = MutateArchitecture(a, space, rng);
    ASSERT_TRUE(ValidateArchitecture(m, space).ok()) << ValidateArchitecture(m, space);
    changed += CanonicalKey(m) != CanonicalKey(a);
    const nas::v1::Architecture c = CrossoverArchitectures(a, b, rng);
    ASSERT_TRUE(ValidateArchitecture(c, space).ok()) << ValidateArchitecture(c, space);
    for (int s = 0; s < c.stages_size(); ++s) {
      const std::string stage = c.stages(s).SerializeAsString();
      EXPECT_TRUE(stage == a.stages(s).SerializeAsString() ||
                  stage == b.stages(s).SerializeAsString());
    }
  }
  EXPECT_EQ(changed, 2000);  // Every mutation changes the network: it never picks a fixed choice.
}

TEST(EvolutionTest, PopulationAgesAndTheFirstProposalsAreRandom) {
  EvolutionStrategy s(Narrowed(), 5, /*population=*/6, /*sample_size=*/3);
  int64_t id = 1;
  Drive(s, 5, &id);  // 20 results
  absl::StatusOr<LoadedPopulation> p = LoadPopulation("evolution-v1", s.SaveState());
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->members.size(), 6u);  // Only the six youngest survive.
  EXPECT_EQ(p->counters[0], 6);      // Six random proposals, mutations after.
}

// How many single moves of MutateArchitecture() separate two architectures of the same space
// (a changed choice, or a stage one block longer or shorter).
int Moves(const nas::v1::Architecture& a, const nas::v1::Architecture& b) {
  int moves = (a.resolution() != b.resolution()) + (a.stem_width() != b.stem_width());
  for (int s = 0; s < a.stages_size(); ++s) {
    const nas::v1::Stage &x = a.stages(s), &y = b.stages(s);
    moves += (x.width() != y.width()) + std::abs(x.blocks_size() - y.blocks_size());
    for (int i = 0; i < std::min(x.blocks_size(), y.blocks_size()); ++i) {
      moves += (x.blocks(i).kernel() != y.blocks(i).kernel()) +
               (x.blocks(i).expansion() != y.blocks(i).expansion()) +
               (x.blocks(i).squeeze_excite() != y.blocks(i).squeeze_excite());
    }
  }
  return moves;
}

// After the random start every proposal is a child one move from a member, except the random
// immigrants, which come at about the asked rate.
TEST(EvolutionTest, ImmigrantsAreUniformSamplesAtTheAskedRate) {
  for (double rate : {0.0, 0.5}) {
    EvolutionStrategy s(Narrowed(), 3, /*population=*/6, /*sample_size=*/3, {}, rate);
    int64_t id = 1;
    Drive(s, 2, &id);  // Past the random start.
    int children = 0, strangers = 0;
    for (int round = 0; round < 40; ++round) {
      const std::vector<Member> members = LoadPopulation("evolution-v1", s.SaveState())->members;
      std::vector<Observation> batch;
      for (const auto& a : s.Propose(4)) {
        int nearest = 1 << 20;
        for (const Member& m : members) nearest = std::min(nearest, Moves(a, m.architecture));
        ++children;
        strangers += nearest > 1;
        batch.push_back(Evaluate(a, id++));
      }
      s.Observe(batch);
    }
    if (rate == 0) {
      EXPECT_EQ(strangers, 0);
    } else {
      EXPECT_GT(strangers, children * 0.35) << strangers << " of " << children;
      EXPECT_LT(strangers, children * 0.65) << strangers << " of " << children;
    }
  }
}

// A hand-worked tournament: three mutually non-dominated members (accuracy negated, latency
// in ms), reference (accuracy 0, 2 ms). A: most accurate but too slow to count (contributes
// 0). B: 0.8 at 1 ms; the front {B, C} has 0.8 * 1 + 0.3 * 0.9 = 1.07, without B 0.3 * 1.9 =
// 0.57, so B contributes 0.5. C: 0.3 at 0.1 ms, contributes 1.07 - 0.8 = 0.27. Crowding alone
// prefers an end (A or C, both infinite; the lower index wins).
TEST(EvolutionTest, TournamentPrefersTheLargestHypervolumeContribution) {
  const Ranked a{{-0.9, 5.0}, 0}, b{{-0.8, 1.0}, 0}, c{{-0.3, 0.1}, 0};
  const std::vector<double> reference = {0, 2};
  EXPECT_EQ(TournamentWinner({a, b, c}, reference), 1);
  EXPECT_EQ(TournamentWinner({c, a, b}, reference), 2);
  EXPECT_EQ(TournamentWinner({a, b, c}, {}), 0);  // crowding: an end
  EXPECT_EQ(TournamentWinner({c, b, a}, {}), 0);
  // Rank comes first: a member dominating the rest wins whatever the contributions.
  const Ranked d{{-0.95, 0.05}, 0};
  EXPECT_EQ(TournamentWinner({a, b, d}, reference), 2);
  // A feasible member beats an infeasible one that dominates it.
  const Ranked e{{-0.99, 0.01}, 1};
  EXPECT_EQ(TournamentWinner({e, c}, reference), 1);
  // Among infeasible ones, the smaller violation wins.
  const Ranked f{{-0.5, 0.5}, 2};
  EXPECT_EQ(TournamentWinner({f, e}, reference), 1);
  // Equal contributions (both beyond the reference) fall back to crowding, then index.
  const Ranked g{{-0.9, 3.0}, 0}, h{{-0.95, 4.0}, 0};
  EXPECT_EQ(TournamentWinner({g, h}, reference), 0);
}

// The hypervolume of the feasible observations' front (reference: no capacity, cost 25).
double FrontHypervolume(const std::vector<Observation>& all) {
  std::vector<std::vector<double>> points;
  for (const Observation& o : all) {
    if (o.feasible) points.push_back(o.objectives);
  }
  return *Hypervolume(points, {0, 25});
}

// Both evolutionary strategies find better fronts than random search for the same number of
// evaluations (160) on the synthetic problem, summed over five seeds.
TEST(EvolutionTest, EvolutionAndNsga2BeatRandomSearchOnASyntheticProblem) {
  double random = 0, evolution = 0, crowding = 0, nsga2 = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    int64_t id = 1;
    auto r = Make("random", seed);
    random += FrontHypervolume(Drive(*r, 40, &id));
    auto e = Make("evolution", seed, {{"tie_break", "hypervolume"}}, /*reference=*/{0, 25});
    evolution += FrontHypervolume(Drive(*e, 40, &id));
    auto c = Make("evolution", seed, {}, {0, 25});
    crowding += FrontHypervolume(Drive(*c, 40, &id));
    auto n = Make("nsga2", seed);
    nsga2 += FrontHypervolume(Drive(*n, 40, &id));
  }
  std::cerr << "front hypervolume summed over 5 seeds: random " << random << ", evolution "
            << crowding << " (hypervolume tie-break " << evolution << "), nsga2 " << nsga2 << "\n";
  EXPECT_GT(evolution, random);
  EXPECT_GT(crowding, random);
  EXPECT_GT(nsga2, random);

  // One objective, what regularized evolution was designed for: the best feasible capacity.
  auto best = [](const std::vector<Observation>& all) {
    double b = 0;
    for (const Observation& o : all) {
      if (o.feasible) b = std::min(b, o.objectives[0]);
    }
    return -b;
  };
  double random_best = 0, evolution_best = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    int64_t id = 1;
    random_best += best(Drive(*Make("random", seed), 40, &id, true));
    evolution_best += best(Drive(*Make("evolution", seed), 40, &id, true));
  }
  std::cerr << "best capacity summed over 5 seeds: random " << random_best << ", evolution "
            << evolution_best << "\n";
  EXPECT_GT(evolution_best, random_best);
}

TEST(StrategyStateTest, RestoredMidSearchProposesWhatTheOriginalWould) {
  for (const std::string name : {"evolution", "nsga2"}) {
    auto original = Make(name, 9);
    int64_t id = 1;
    Drive(*original, 12, &id);          // Well past the random start.
    auto restored = Make(name, 12345);  // Another seed: the state must carry the generator.
    ASSERT_TRUE(restored->RestoreState(original->SaveState()).ok()) << name;
    for (int round = 0; round < 5; ++round) {
      const auto a = original->Propose(4);
      const auto b = restored->Propose(4);
      ASSERT_EQ(a.size(), b.size());
      std::vector<Observation> batch;
      for (size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(CanonicalKey(a[i]), CanonicalKey(b[i])) << name << " round " << round;
        batch.push_back(Evaluate(a[i], id++));
      }
      original->Observe(batch);
      restored->Observe(batch);
    }
    EXPECT_EQ(original->SaveState(), restored->SaveState()) << name;
    EXPECT_EQ(restored->RestoreState("random-v1 1").code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(restored->RestoreState(name + "-v1\n1 2 3\nx").code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(Nsga2StrategyTest, PopulationKeepsTheFeasibleNonDominated) {
  Nsga2Strategy s(Narrowed(), 4, /*population=*/8, 0.9);
  int64_t id = 1;
  const std::vector<Observation> all = Drive(s, 10, &id);
  absl::StatusOr<LoadedPopulation> p = LoadPopulation("nsga2-v1", s.SaveState());
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->members.size(), 8u);
  // Every feasible non-dominated observation among the last selection's pool that fits is kept:
  // no survivor is dominated by an observation that was dropped while the population had room.
  std::vector<Ranked> everyone;
  for (const Observation& o : all) everyone.push_back(ToMember(o).ranked);
  const std::vector<std::vector<int>> fronts = NonDominatedSort(everyone);
  std::set<std::string> best;
  for (int i : fronts[0]) best.insert(CanonicalKey(all[i].architecture));
  int survivors_on_front = 0;
  for (const Member& m : p->members) survivors_on_front += best.count(CanonicalKey(m.architecture));
  EXPECT_EQ(survivors_on_front, std::min<int>(8, static_cast<int>(fronts[0].size())));
}

TEST(MakeStrategyTest, EvolutionaryStrategySettingsAreChecked) {
  nas::v1::Strategy spec;
  spec.set_name("evolution");
  auto expect = [&](const std::string& field) {
    absl::StatusOr<std::unique_ptr<SearchStrategy>> s = MakeStrategy(spec, Narrowed());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << field;
    EXPECT_NE(s.status().message().find(field), std::string::npos) << s.status();
  };
  (*spec.mutable_settings())["population"] = "1";
  expect("strategy.settings[population]");
  (*spec.mutable_settings())["population"] = "10";
  (*spec.mutable_settings())["sample_size"] = "11";
  expect("strategy.settings[sample_size]");
  (*spec.mutable_settings())["sample_size"] = "5";
  EXPECT_TRUE(MakeStrategy(spec, Narrowed()).ok());
  (*spec.mutable_settings())["tie_break"] = "rank";
  expect("strategy.settings[tie_break]");
  (*spec.mutable_settings())["tie_break"] = "crowding";
  EXPECT_TRUE(MakeStrategy(spec, Narrowed()).ok());
  (*spec.mutable_settings())["immigrants"] = "1.5";
  expect("strategy.settings[immigrants]");
  (*spec.mutable_settings())["immigrants"] = "0";
  EXPECT_TRUE(MakeStrategy(spec, Narrowed()).ok());
  (*spec.mutable_settings())["tournament"] = "5";
  expect("strategy.settings[tournament]");
  spec.set_name("nsga2");
  spec.clear_settings();
  (*spec.mutable_settings())["crossover_probability"] = "1.5";
  expect("strategy.settings[crossover_probability]");
  (*spec.mutable_settings())["crossover_probability"] = "0.5";
  EXPECT_TRUE(MakeStrategy(spec, Narrowed()).ok());
}

}  // namespace
}  // namespace nas
