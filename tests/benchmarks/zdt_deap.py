"""The peer of tests/zdt_benchmark.cc: DEAP's NSGA-II example (python3-deap) on ZDT1, ZDT2 and
ZDT3 with 30 variables, population 100, simulated binary crossover and polynomial mutation
(eta 20), crossover probability 0.9, mutation probability 1/30 per variable, dominance and
crowding tournaments, NSGA-II selection.

    python3 zdt_deap.py GENERATIONS SEEDS

Prints one line per problem and seed: problem, seed, hypervolume of the final first front
(DEAP's own hypervolume, reference point (11, 11)), evaluations, seconds.
"""
import random
import sys
import time

from deap import base, benchmarks, creator, tools
from deap.benchmarks.tools import hypervolume

N = 30
creator.create("FitnessMin", base.Fitness, weights=(-1.0, -1.0))
creator.create("Individual", list, fitness=creator.FitnessMin)


def run(problem, seed, generations, mu=100):
    random.seed(seed)
    toolbox = base.Toolbox()
    toolbox.register("attr_float", random.uniform, 0.0, 1.0)
    toolbox.register("individual", tools.initRepeat, creator.Individual, toolbox.attr_float, N)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("evaluate", problem)
    toolbox.register("mate", tools.cxSimulatedBinaryBounded, low=0.0, up=1.0, eta=20.0)
    toolbox.register("mutate", tools.mutPolynomialBounded, low=0.0, up=1.0, eta=20.0,
                     indpb=1.0 / N)
    toolbox.register("select", tools.selNSGA2)
    evaluations = 0
    pop = toolbox.population(n=mu)
    for ind in pop:
        ind.fitness.values = toolbox.evaluate(ind)
        evaluations += 1
    pop = toolbox.select(pop, len(pop))
    for _ in range(generations):
        offspring = [toolbox.clone(ind) for ind in tools.selTournamentDCD(pop, len(pop))]
        for a, b in zip(offspring[::2], offspring[1::2]):
            if random.random() <= 0.9:
                toolbox.mate(a, b)
            toolbox.mutate(a)
            toolbox.mutate(b)
            del a.fitness.values, b.fitness.values
        for ind in offspring:
            if not ind.fitness.valid:
                ind.fitness.values = toolbox.evaluate(ind)
                evaluations += 1
        pop = toolbox.select(pop + offspring, mu)
    front = tools.sortNondominated(pop, len(pop), first_front_only=True)[0]
    return hypervolume(front, [11.0, 11.0]), evaluations


def main():
    generations, seeds = int(sys.argv[1]), int(sys.argv[2])
    for name, problem in (("zdt1", benchmarks.zdt1), ("zdt2", benchmarks.zdt2),
                          ("zdt3", benchmarks.zdt3)):
        for seed in range(1, seeds + 1):
            t0 = time.perf_counter()
            hv, evaluations = run(problem, seed, generations)
            print(name, seed, hv, evaluations, time.perf_counter() - t0, flush=True)


if __name__ == "__main__":
    main()
