#include "services/scheduler.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace nas {

namespace {

std::string ClaimerName(const void* scheduler) {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, ":", getpid(), ":", absl::Hex(reinterpret_cast<uintptr_t>(scheduler)));
}

// A round's duty is claimable a little before a full interval has passed, so that one
// controller's loop, waking every interval, never just misses its own last claim.
absl::Duration ClaimWindow(absl::Duration every) { return every * 4 / 5; }

}  // namespace

Scheduler::Scheduler(Store* store, SchedulerOptions options)
    : store_(store), options_(options), observer_(options.metrics), claimer_(ClaimerName(this)) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    ++changes_;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status Scheduler::Refill(int64_t search_id) {
  absl::StatusOr<RefillResult> r = store_->Refill(search_id, strategies_);
  if (!r.ok()) return r.status();
  if (r->ended) strategies_.Forget(search_id);
  if (r->inserted > 0 || r->ended) NotifyChange();
  return absl::OkStatus();
}

void Scheduler::MarkDirty(int64_t search_id) {
  absl::MutexLock lock(&mu_);
  dirty_.insert(search_id);
}

void Scheduler::NotifyChange() {
  absl::MutexLock lock(&mu_);
  ++changes_;
}

bool Scheduler::Stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

uint64_t Scheduler::ChangeCount() {
  absl::MutexLock lock(&mu_);
  return changes_;
}

void Scheduler::WaitForChange(uint64_t seen, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return changes_ != seen || stopping_; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
}

void Scheduler::SweepLeases() {
  // Workers heartbeat every third of the TTL. When this controller has not completed a sweep
  // for half a TTL (it just started, or the store was unreachable), the service itself was
  // away and heartbeats may have been refused: every live lease gets a fresh TTL first, so
  // that no candidate is charged an attempt for the service's own outage.
  const absl::Time now = absl::Now();
  const absl::Duration away_after = std::max(options_.lease_ttl / 2, 4 * options_.sweep_interval);
  if (last_sweep_ == absl::InfinitePast() || now - last_sweep_ > away_after) {
    // Away since its first failed sweep (a lease granted between the last good sweep and the
    // outage may have committed while its answer was lost with the connection: a commit in
    // doubt), else since the last good sweep, or, for a controller that just started, since
    // its start (the previous one died before that).
    const absl::Time away_since = last_sweep_ == absl::InfinitePast() ? started_
                                  : first_failed_sweep_ != absl::InfinitePast()
                                      ? first_failed_sweep_
                                      : last_sweep_;
    absl::StatusOr<int64_t> extended = store_->ExtendLiveLeases(options_.lease_ttl, away_since);
    if (!extended.ok()) {
      observer_.LeaseSweepFailed(extended.status());
      if (first_failed_sweep_ == absl::InfinitePast()) first_failed_sweep_ = now;
      return;
    }
    observer_.LeasesExtended(*extended, last_sweep_, now);
  }
  // One controller of several sweeps each round.
  absl::StatusOr<bool> mine =
      store_->ClaimDuty("lease_sweep", ClaimWindow(options_.sweep_interval), claimer_);
  if (!mine.ok()) {
    observer_.LeaseSweepFailed(mine.status());
    if (first_failed_sweep_ == absl::InfinitePast()) first_failed_sweep_ = now;
    return;
  }
  if (!*mine) {
    // Another controller sweeps this round; the store answered, so this one is not away.
    last_sweep_ = absl::Now();
    first_failed_sweep_ = absl::InfinitePast();
    return;
  }
  absl::StatusOr<std::vector<LeaseExpiry>> expired = store_->ExpireLeases();
  if (expired.ok()) {
    last_sweep_ = absl::Now();
    first_failed_sweep_ = absl::InfinitePast();
  } else if (first_failed_sweep_ == absl::InfinitePast()) {
    first_failed_sweep_ = now;
  }
  if (!expired.ok()) {
    observer_.LeaseSweepFailed(expired.status());
  } else {
    for (const LeaseExpiry& e : *expired) {
      observer_.LeaseExpired(e);
      MarkDirty(e.search_id);
    }
    if (!expired->empty()) NotifyChange();
  }
  absl::StatusOr<std::vector<int64_t>> overdue = store_->EndOverdueSearches();
  if (overdue.ok() && !overdue->empty()) NotifyChange();
}

bool Scheduler::ClaimFullRefill() {
  absl::StatusOr<bool> mine =
      store_->ClaimDuty("full_refill", ClaimWindow(options_.full_refill_interval), claimer_);
  return !mine.ok() || *mine;  // Unreachable store: try anyway (the refills report why).
}

void Scheduler::RefillDirty(bool all_running) {
  std::set<int64_t> todo;
  {
    absl::MutexLock lock(&mu_);
    todo.swap(dirty_);
  }
  if (all_running) {
    absl::StatusOr<std::vector<int64_t>> running = store_->RunningSearchIds();
    if (running.ok()) todo.insert(running->begin(), running->end());
  }
  for (int64_t id : todo) {
    absl::Status st = Refill(id);
    if (!st.ok()) {
      observer_.RefillFailed(id, st);
    }
  }
}

void Scheduler::Loop() {
  absl::Time next_sweep = absl::InfinitePast();
  absl::Time next_full = absl::InfinitePast();
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !dirty_.empty(); };
      mu_.AwaitWithTimeout(absl::Condition(&wake),
                           std::max(absl::ZeroDuration(), next_sweep - absl::Now()));
      if (stopping_) return;
    }
    // Results wake the loop often; the sweeps keep their own pace.
    const absl::Time now = absl::Now();
    if (now >= next_sweep) {
      next_sweep = now + options_.sweep_interval;
      SweepLeases();
    }
    const bool full = now >= next_full && ClaimFullRefill();
    if (now >= next_full) next_full = now + options_.full_refill_interval;
    RefillDirty(full);
  }
}

}  // namespace nas
