// NSGA-II on ZDT1, ZDT2 and ZDT3 with search/nsga2.h, step for step the algorithm of DEAP's
// NSGA-II example (tests/benchmarks/zdt_deap.py): population 100, 30 variables in [0, 1],
// dominance-and-crowding binary tournaments (DEAP's selTournamentDCD), simulated binary crossover
// (eta 20, probability 0.9), polynomial mutation (eta 20, probability 1/30 per variable),
// environmental selection of the 100 best of parents and offspring. See docs/benchmarks.md.
//
//   zdt_benchmark --generations=250 --seeds=5
//
// Prints one line per problem and seed: problem, seed, hypervolume of the final population's
// first front (reference point (11, 11)), evaluations, seconds, and the hypervolume of the
// archive of every non-dominated point evaluated (search/pareto.h, as the service's fronts keep).
#include <chrono>
#include <cmath>
#include <iostream>
#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "search/hypervolume.h"
#include "search/nsga2.h"
#include "search/pareto.h"

ABSL_FLAG(int, generations, 250, "Generations");
ABSL_FLAG(int, population, 100, "Population (a multiple of 4)");
ABSL_FLAG(int, seeds, 5, "Seeds 1..N per problem");

namespace nas {
namespace {

constexpr int kVariables = 30;
constexpr double kEta = 20;

std::vector<double> Zdt(int problem, const std::vector<double>& x) {
  double sum = 0;
  for (int i = 1; i < kVariables; ++i) sum += x[i];
  const double g = 1 + 9 * sum / (kVariables - 1);
  const double f1 = x[0], r = f1 / g;
  double f2 = 0;
  if (problem == 1) f2 = g * (1 - std::sqrt(r));
  if (problem == 2) f2 = g * (1 - r * r);
  if (problem == 3) f2 = g * (1 - std::sqrt(r) - r * std::sin(10 * M_PI * f1));
  return {f1, f2};
}

struct Individual {
  std::vector<double> x;
  Ranked ranked;
};

class Nsga2 {
 public:
  Nsga2(int problem, uint64_t seed) : problem_(problem), rng_(seed) {}

  double Run(int population, int generations, int* evaluations, double* archive_hv) {
    std::vector<Individual> pop(population);
    for (Individual& ind : pop) {
      for (int i = 0; i < kVariables; ++i) ind.x.push_back(U());
      Evaluate(ind);
      Archive(ind);
    }
    pop = Select(pop, population);
    for (int gen = 0; gen < generations; ++gen) {
      std::vector<Individual> offspring = Tournament(pop);
      for (size_t i = 0; i + 1 < offspring.size(); i += 2) {
        if (U() <= 0.9) Crossover(offspring[i].x, offspring[i + 1].x);
        Mutate(offspring[i].x);
        Mutate(offspring[i + 1].x);
        Evaluate(offspring[i]);
        Evaluate(offspring[i + 1]);
      }
      for (const Individual& child : offspring) Archive(child);
      pop.insert(pop.end(), offspring.begin(), offspring.end());
      pop = Select(pop, population);
    }
    *evaluations = evaluations_;
    std::vector<Ranked> ranked;
    for (const Individual& ind : pop) ranked.push_back(ind.ranked);
    const std::vector<std::vector<int>> fronts = NonDominatedSort(ranked);
    std::vector<std::vector<double>> front;
    for (int i : fronts[0]) front.push_back(ranked[i].objectives);
    std::vector<std::vector<double>> archived;
    for (const ParetoArchive::Member& m : archive_.members()) archived.push_back(m.values);
    *archive_hv = *Hypervolume(archived, {11, 11});
    return *Hypervolume(front, {11, 11});
  }

 private:
  double U() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  void Evaluate(Individual& ind) {
    ind.ranked.objectives = Zdt(problem_, ind.x);
    ++evaluations_;
  }

  // Adds an evaluated point to the archive of every non-dominated point seen.
  void Archive(const Individual& ind) {
    archive_.Insert(archived_++, ind.ranked.objectives, &removed_);
    removed_.clear();
  }

  // Environmental selection; also records each survivor's crowding distance within its front
  // of parents and offspring, which the next tournaments compare (as DEAP's selNSGA2 does).
  std::vector<Individual> Select(const std::vector<Individual>& pop, int n) {
    std::vector<Ranked> ranked;
    for (const Individual& ind : pop) ranked.push_back(ind.ranked);
    std::vector<Individual> out;
    for (int i : SelectNsga2(ranked, n, &crowding_)) out.push_back(pop[i]);
    return out;
  }

  // DEAP's selTournamentDCD: two shuffles, pairs by dominance, then crowding, then a coin.
  std::vector<Individual> Tournament(const std::vector<Individual>& pop) {
    const size_t n = pop.size();
    auto pick = [&](size_t a, size_t b) -> size_t {
      if (ConstrainedDominates(pop[a].ranked, pop[b].ranked)) return a;
      if (ConstrainedDominates(pop[b].ranked, pop[a].ranked)) return b;
      if (crowding_[a] < crowding_[b]) return b;
      if (crowding_[a] > crowding_[b]) return a;
      return U() <= 0.5 ? a : b;
    };
    std::vector<Individual> out;
    for (int round = 0; round < 2; ++round) {
      std::vector<size_t> order(n);
      for (size_t i = 0; i < n; ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng_);
      for (size_t i = 0; i + 3 < n; i += 4) {
        out.push_back(pop[pick(order[i], order[i + 1])]);
        out.push_back(pop[pick(order[i + 2], order[i + 3])]);
      }
    }
    return out;
  }

  // Simulated binary crossover, bounded to [0, 1] (Deb & Agrawal 1995).
  void Crossover(std::vector<double>& a, std::vector<double>& b) {
    for (int i = 0; i < kVariables; ++i) {
      if (U() > 0.5 || std::abs(a[i] - b[i]) <= 1e-14) continue;
      const double x1 = std::min(a[i], b[i]), x2 = std::max(a[i], b[i]);
      const double r = U();
      auto spread = [&](double beta) {
        const double alpha = 2 - std::pow(beta, -(kEta + 1));
        return r <= 1 / alpha ? std::pow(r * alpha, 1 / (kEta + 1))
                              : std::pow(1 / (2 - r * alpha), 1 / (kEta + 1));
      };
      double c1 = 0.5 * (x1 + x2 - spread(1 + 2 * x1 / (x2 - x1)) * (x2 - x1));
      double c2 = 0.5 * (x1 + x2 + spread(1 + 2 * (1 - x2) / (x2 - x1)) * (x2 - x1));
      c1 = std::clamp(c1, 0.0, 1.0);
      c2 = std::clamp(c2, 0.0, 1.0);
      if (U() <= 0.5) std::swap(c1, c2);
      a[i] = c1;
      b[i] = c2;
    }
  }

  // Polynomial mutation, bounded to [0, 1] (Deb & Goyal 1996).
  void Mutate(std::vector<double>& x) {
    for (int i = 0; i < kVariables; ++i) {
      if (U() > 1.0 / kVariables) continue;
      const double r = U(), power = 1 / (kEta + 1);
      double dq;
      if (r < 0.5) {
        dq = std::pow(2 * r + (1 - 2 * r) * std::pow(1 - x[i], kEta + 1), power) - 1;
      } else {
        dq = 1 - std::pow(2 * (1 - r) + 2 * (r - 0.5) * std::pow(x[i], kEta + 1), power);
      }
      x[i] = std::clamp(x[i] + dq, 0.0, 1.0);
    }
  }

  const int problem_;
  std::mt19937_64 rng_;
  std::vector<double> crowding_;
  int evaluations_ = 0;
  ParetoArchive archive_;
  int64_t archived_ = 0;
  std::vector<int64_t> removed_;
};

}  // namespace
}  // namespace nas

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  for (int problem : {1, 2, 3}) {
    for (int seed = 1; seed <= absl::GetFlag(FLAGS_seeds); ++seed) {
      const auto t0 = std::chrono::steady_clock::now();
      int evaluations = 0;
      double archive_hv = 0;
      const double hv = nas::Nsga2(problem, seed)
                            .Run(absl::GetFlag(FLAGS_population), absl::GetFlag(FLAGS_generations),
                                 &evaluations, &archive_hv);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::cout << "zdt" << problem << " " << seed << " " << hv << " " << evaluations << " " << secs
                << " " << archive_hv << "\n";
    }
  }
  return 0;
}
