#include "services/report_batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace nas {

ReportBatcher::ReportBatcher(Apply apply, int max_batch)
    : apply_(std::move(apply)), max_batch_(std::max(1, max_batch)) {}

absl::StatusOr<ReportOutcome> ReportBatcher::Report(const nas::v1::ReportResultRequest& request) {
  Slot mine{&request};
  absl::MutexLock lock(&mu_);
  queue_.push_back(&mine);
  while (!mine.done) {
    if (applying_) {
      // Another caller's batch is in the database; ours (or a later one) is next.
      const auto ready = [this, &mine]()
                             ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return mine.done || !applying_; };
      mu_.Await(absl::Condition(&ready));
      continue;
    }
    // This caller applies the oldest queued reports (its own among them unless more than
    // max_batch_ were ahead of it: then it loops and applies the next batch too).
    applying_ = true;
    const size_t n = std::min(queue_.size(), static_cast<size_t>(max_batch_));
    std::vector<Slot*> batch(queue_.begin(), queue_.begin() + n);
    queue_.erase(queue_.begin(), queue_.begin() + n);
    std::vector<const nas::v1::ReportResultRequest*> requests;
    requests.reserve(n);
    for (Slot* s : batch) requests.push_back(s->request);
    mu_.Unlock();
    absl::StatusOr<std::vector<absl::StatusOr<ReportOutcome>>> outcomes = apply_(requests);
    if (outcomes.ok() && outcomes->size() != n) {
      outcomes = absl::InternalError(
          absl::StrCat("a batch of ", n, " reports got ", outcomes->size(), " outcomes"));
    }
    mu_.Lock();
    for (size_t i = 0; i < n; ++i) {
      batch[i]->outcome = outcomes.ok() ? std::move((*outcomes)[i])
                                        : absl::StatusOr<ReportOutcome>(outcomes.status());
      batch[i]->done = true;
    }
    ++counts_.batches;
    counts_.reports += static_cast<int64_t>(n);
    counts_.largest = std::max(counts_.largest, static_cast<int64_t>(n));
    applying_ = false;
  }
  return std::move(mine.outcome);
}

ReportBatcher::Counts ReportBatcher::counts() {
  absl::MutexLock lock(&mu_);
  Counts c = counts_;
  c.queued = static_cast<int64_t>(queue_.size());
  return c;
}

}  // namespace nas
