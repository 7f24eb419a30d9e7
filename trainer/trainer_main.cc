// nas-trainer: a LibTorch trainer worker of the NAS service.
//
//   nas-trainer --controller=127.0.0.1:50051 --worker_token_file=.nas-state/worker.token
//               --device_tag=host-cpu --threads=1
//               --dataset=fashion-mnist=idx:/usr/share/datasets/fashion-mnist,cifar10=cifar10:/data/c10
//
// SIGTERM or SIGINT: the lease in progress is returned (its candidate re-queued at once) and
// the worker exits 0.
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/strip.h"
#include "common/command_line.h"
#include "glog/logging.h"
#include "trainer/dataset.h"
#include "trainer/precision.h"
#include "trainer/worker.h"

ABSL_FLAG(std::string, controller, "127.0.0.1:50051",
          "Controller address, host:port; several replicas comma-separated, or one dns:/// name "
          "of several (calls spread over those that answer)");
ABSL_FLAG(std::string, worker_token_file, "", "File holding the controller's worker credential");
ABSL_FLAG(std::string, device_tag, "host-cpu", "Device tag matched against measured profiles");
ABSL_FLAG(int, threads, 1, "LibTorch intra-op threads (with other load, 1 is often fastest)");
ABSL_FLAG(std::vector<std::string>, dataset,
          {"fashion-mnist=idx:/usr/share/datasets/fashion-mnist"},
          "Datasets to serve, comma-separated NAME=FORMAT:DIR with FORMAT idx, cifar10 or "
          "cifar100; searches name a dataset by NAME");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port to serve Prometheus /metrics on (e.g. 0.0.0.0:9465); empty: not served");
ABSL_FLAG(bool, measure_only, false,
          "Only time candidates trained elsewhere, for measured profiles of --device_tag (a "
          "device too small to train on)");
ABSL_FLAG(absl::Duration, max_backoff, absl::Seconds(30),
          "Longest wait between retries while the controller is unreachable (calls, reports "
          "and uploads are retried until it answers)");
ABSL_FLAG(int, max_tasks, 0, "Exit after this many evaluated candidates (0: never)");
ABSL_FLAG(int, estimate_batch, 1,
          "Subnet estimates of a weight-sharing search leased per call (1 to 64); more saves "
          "round trips when the controller is far away");
ABSL_FLAG(std::string, gang_host, "",
          "Address the other workers reach this one at when training a supernet epoch "
          "together (strategy setting supernet_workers; Gloo connects every pair of workers, "
          "any port); empty: this machine's host name");
ABSL_FLAG(std::string, auto_precision, "cpu",
          "What recipes of precision auto train in: \"cpu\" (bf16 where this CPU has bf16 "
          "instructions, fp32 elsewhere), \"fp32\" or \"bf16\"");
ABSL_FLAG(absl::Duration, checkpoint_after, absl::Seconds(60),
          "Checkpoint a training at each epoch's end (uploaded to the controller) once its "
          "epochs take this long, so that a lost worker costs at most one epoch (0s: every "
          "multi-epoch training)");
ABSL_FLAG(absl::Duration, gang_timeout, absl::Minutes(2),
          "How long the workers of a data-parallel supernet epoch wait for each other, to "
          "join and at each step");

namespace {
std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }
}  // namespace

constexpr char kUsage[] = R"(nas-trainer: a LibTorch trainer worker of the NAS service.

Usage: nas-trainer --controller=HOST:PORT[,HOST:PORT...] --worker_token_file=FILE [flags]

It registers with the controller, leases candidate architectures, trains, evaluates and measures
them on this machine's CPU, and reports the results and models. SIGTERM or SIGINT returns the
lease in progress (its candidate is re-queued at once) and exits 0.)";

int main(int argc, char** argv) {
  nas::ParseCommandLineOrExit(argc, argv, kUsage, {"trainer/"});
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  nas::WorkerOptions options;
  options.controller = absl::GetFlag(FLAGS_controller);
  options.device_tag = absl::GetFlag(FLAGS_device_tag);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_listen);
  options.measure_only = absl::GetFlag(FLAGS_measure_only);
  options.datasets.clear();
  for (const std::string& text : absl::GetFlag(FLAGS_dataset)) {
    absl::StatusOr<nas::DatasetSource> source = nas::ParseDatasetSource(text);
    if (!source.ok()) {
      std::cerr << "nas-trainer: --dataset: " << source.status().message() << "\n";
      return 2;
    }
    options.datasets.push_back(*source);
  }
  options.max_tasks = absl::GetFlag(FLAGS_max_tasks);
  options.max_backoff = absl::GetFlag(FLAGS_max_backoff);
  if (options.max_backoff < absl::Milliseconds(250)) {
    std::cerr << "nas-trainer: --max_backoff must be at least 250ms\n";
    return 2;
  }
  options.estimate_batch = absl::GetFlag(FLAGS_estimate_batch);
  if (options.estimate_batch < 1 || options.estimate_batch > 64) {
    std::cerr << "nas-trainer: --estimate_batch must be 1 to 64, not " << options.estimate_batch
              << "\n";
    return 2;
  }
  options.gang_host = absl::GetFlag(FLAGS_gang_host);
  if (options.gang_host.empty()) {
    char name[256] = {};
    options.gang_host = gethostname(name, sizeof(name) - 1) == 0 && name[0] != '\0'
                            ? std::string(name)
                            : std::string("127.0.0.1");
  }
  const std::string auto_precision = absl::GetFlag(FLAGS_auto_precision);
  if (auto_precision == "fp32") {
    nas::SetAutoPrecision(nas::Precision::kFp32);
  } else if (auto_precision == "bf16") {
    nas::SetAutoPrecision(nas::Precision::kBf16);
  } else if (auto_precision != "cpu") {
    std::cerr << "nas-trainer: --auto_precision must be cpu, fp32 or bf16, not \"" << auto_precision
              << "\"\n";
    return 2;
  }
  LOG(INFO) << "event=precision auto=" << nas::PrecisionName(nas::AutoPrecision())
            << " cpu_bf16=" << (nas::CpuHasBf16() ? "yes" : "no");
  options.checkpoint_after = absl::GetFlag(FLAGS_checkpoint_after);
  if (options.checkpoint_after < absl::ZeroDuration()) {
    std::cerr << "nas-trainer: --checkpoint_after must be 0s or more\n";
    return 2;
  }
  options.gang_timeout = absl::GetFlag(FLAGS_gang_timeout);
  if (options.gang_timeout < absl::Seconds(1)) {
    std::cerr << "nas-trainer: --gang_timeout must be at least 1s\n";
    return 2;
  }
  std::ifstream token(absl::GetFlag(FLAGS_worker_token_file));
  if (!token) {
    std::cerr << "nas-trainer: cannot read --worker_token_file=\""
              << absl::GetFlag(FLAGS_worker_token_file) << "\"\n";
    return 2;
  }
  std::stringstream ss;
  ss << token.rdbuf();
  options.worker_token = std::string(absl::StripAsciiWhitespace(ss.str()));
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  absl::Status st = nas::Worker(options).Run(&g_stop);
  if (!st.ok()) {
    std::cerr << "nas-trainer: " << st << "\n";
    return 1;
  }
  return 0;
}
