// Scheduler: keeps every running search supplied with queued candidates from its strategy,
// expires lost leases, ends overdue searches, and wakes long polls when work appears.
//
//   Scheduler scheduler(store, {.lease_ttl = absl::Seconds(30)});
//   scheduler.Start();              // background sweeps
//   scheduler.Refill(search_id);    // top one search up now
//   scheduler.MarkDirty(search_id); // ... or soon, from the background loop
//
// The scheduler decides when to refill; engine::PlanRefill() decides what (called by
// Store::Refill() inside its transaction). Strategies live in memory between refills
// (engine::StrategyCache); their state is persisted in the same transaction as the candidates
// they proposed, with a save counter (generation) that tells this controller when another one
// (or a crash) made its copy stale.
#ifndef NAS_SERVICES_SCHEDULER_H_
#define NAS_SERVICES_SCHEDULER_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/strategy_cache.h"
#include "services/metrics.h"
#include "services/observer.h"
#include "services/store/store.h"

namespace nas {

struct SchedulerOptions {
  // How long a lease lives without a heartbeat.
  absl::Duration lease_ttl = absl::Seconds(30);
  // How often leases are checked for expiry and dirty searches refilled. With several
  // controllers on one database, one of them sweeps each round (Store::ClaimDuty).
  absl::Duration sweep_interval = absl::Milliseconds(250);
  // How often every running search is refilled, dirty or not (catches other controllers); one
  // controller of several does it each round.
  absl::Duration full_refill_interval = absl::Seconds(5);
  // Where expired leases are counted (null: nowhere).
  ControllerMetrics* metrics = nullptr;
};

class Scheduler {
 public:
  Scheduler(Store* store, SchedulerOptions options);
  ~Scheduler();

  // Scheduler::Start() starts the background loop; Stop() ends it (also on destruction).
  void Start();
  void Stop();

  // Scheduler::Refill() tops up one search's queue now.
  absl::Status Refill(int64_t search_id);
  // Scheduler::MarkDirty() asks the background loop to refill `search_id` soon.
  void MarkDirty(int64_t search_id);

  // Scheduler::NotifyChange() wakes every WaitForChange(); call after any state change.
  void NotifyChange();
  // Scheduler::ChangeCount() returns a counter that NotifyChange() increments.
  uint64_t ChangeCount();
  // Scheduler::WaitForChange() waits until ChangeCount() != seen or `timeout` passes.
  void WaitForChange(uint64_t seen, absl::Duration timeout);

  // Scheduler::Stopping() is true once Stop() began: long polls should answer at once.
  bool Stopping();

  const SchedulerOptions& options() const { return options_; }

 private:
  void Loop();
  // Expires lost leases and ends overdue searches.
  void SweepLeases();
  // Refills the dirty searches (and every running one when `all_running`).
  void RefillDirty(bool all_running);

  Store* const store_;
  const SchedulerOptions options_;
  const Observer observer_;

  engine::StrategyCache strategies_;

  absl::Mutex mu_;
  std::set<int64_t> dirty_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
  // When SweepLeases() last reached the store (expired leases, or found another controller
  // sweeping this round; only the loop's thread touches it).
  absl::Time last_sweep_ = absl::InfinitePast();
  // Who claims duties (Store::ClaimDuty): host, process and this scheduler.
  const std::string claimer_;
  // Claims the full refill of this round (the loop's thread only).
  bool ClaimFullRefill();
  // The first sweep that failed since the last good one (InfinitePast: none): roughly when the
  // store became unreachable (the loop's thread only).
  absl::Time first_failed_sweep_ = absl::InfinitePast();
  // When this scheduler was made (before its controller serves any call).
  const absl::Time started_ = absl::Now();
};

}  // namespace nas

#endif  // NAS_SERVICES_SCHEDULER_H_
