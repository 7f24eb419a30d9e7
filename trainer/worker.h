// Worker: the nas-trainer loop. Registers with the controller, leases candidates, trains and
// measures them with LibTorch, heartbeats with progress, and reports.
//
//   WorkerOptions options;
//   options.controller = "127.0.0.1:50051";
//   options.worker_token = secret;
//   std::atomic<bool> stop{false};
//   absl::Status st = Worker(options).Run(&stop);   // until `stop` (SIGTERM) or max_tasks
//
// Each dataset is decoded once and shared by every task. When the controller is unreachable the
// worker retries with exponential back-off. When `stop` is set during training, the worker gives
// its lease back (the candidate is re-queued at once) and returns.
#ifndef NAS_TRAINER_WORKER_H_
#define NAS_TRAINER_WORKER_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "trainer/dataset.h"

namespace nas {

struct WorkerOptions {
  // Controller address, host:port.
  std::string controller = "127.0.0.1:50051";
  // The controller's worker credential.
  std::string worker_token;
  // Matched against measured hardware profiles.
  std::string device_tag = "host-cpu";
  // LibTorch intra-op threads for training and latency measurement.
  int threads = 1;
  // The datasets this worker serves, each decoded once at start and told to the controller,
  // which leases the worker only candidates of searches on one of them.
  std::vector<DatasetSource> datasets = {FashionMnist()};
  // Long-poll length of each LeaseWork call.
  absl::Duration lease_wait = absl::Seconds(10);
  // Measure-only mode, for a device too small to train on: the worker takes only measurement
  // leases (candidates trained elsewhere, on a measured profile of this device_tag), builds
  // each architecture, times it and reports its latency.
  bool measure_only = false;
  // Subnet estimates of a weight-sharing search leased in one call (each still a lease of its
  // own, heartbeated while it waits its turn); more than 1 saves the lease round trips of a
  // worker far from its controller.
  int estimate_batch = 1;
  // Data-parallel supernet epochs (trainer/gang.h): the address the other workers of a gang
  // reach this one at (any port; Gloo connects every pair), and how long the gang's ranks
  // wait for each other, to join and at each step.
  std::string gang_host = "127.0.0.1";
  absl::Duration gang_timeout = absl::Minutes(2);
  // Stop after this many evaluated leases (0: never); for tests and one-shot runs.
  int max_tasks = 0;
  // Longest back-off between retries when the controller is unreachable.
  absl::Duration max_backoff = absl::Seconds(30);
  // A training whose epochs take at least this long uploads a checkpoint at each epoch's end
  // (but the last), so that a lost worker costs at most one epoch: the next lease of the
  // candidate resumes from it. Zero: every multi-epoch training checkpoints.
  absl::Duration checkpoint_after = absl::Seconds(60);
  // host:port of the Prometheus /metrics endpoint (trainer/worker_metrics.h); port 0 picks
  // one (see Worker::metrics_port()); empty: not served.
  std::string metrics_address;
};

class Worker {
 public:
  explicit Worker(WorkerOptions options) : options_(std::move(options)) {}

  // Worker::Run() works until `stop` is set or max_tasks leases are done. Errors are returned
  // only for what retrying cannot fix (an unreadable dataset, a wrong credential).
  absl::Status Run(std::atomic<bool>* stop);

  // Worker::metrics_port() returns the bound /metrics port once Run() serves it, else 0.
  int metrics_port() const { return metrics_port_.load(); }

 private:
  WorkerOptions options_;
  std::atomic<int> metrics_port_{0};
};

}  // namespace nas

#endif  // NAS_TRAINER_WORKER_H_
