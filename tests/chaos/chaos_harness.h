// Chaos harness: a real nas-controller process over a real PostgreSQL, a fleet of simulated
// workers speaking the real TrainerService over loopback, faults (kill -9 of the controller, a
// stopped database, vanishing and failing workers, poison candidates) and the figures that say
// whether the service survived them (acknowledged results lost, candidates evaluated twice,
// healthy candidates FAILED, recovery time). Shared by tests/chaos/chaos_test.cc and the soak
// (tests/chaos/soak.cc).
//
//   ChaosDatabase db = ...;                       // TestPostgres + a database of its own
//   ControllerProcess controller(db.url, dir);    // the real binary, fixed port
//   controller.Start();
//   Fleet fleet(controller.address(), {.workers = 32});
//   int64_t search = SubmitSearch(controller.address(), 1000, ...);
//   controller.Kill();  ...  controller.Start();
//   WaitForEnd(...); Figures f = Measure(db.url, search, fleet);
#ifndef NAS_TESTS_CHAOS_CHAOS_HARNESS_H_
#define NAS_TESTS_CHAOS_CHAOS_HARNESS_H_

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/nas_service.pb.h"
#include "proto/trainer_service.pb.h"

namespace nas::chaos {

inline constexpr char kWorkerToken[] = "chaos-worker-credential-0123456789";
inline constexpr char kAdminToken[] = "chaos-admin-token-0123456789";

// ControllerProcess: the nas-controller binary as a child process on a port that stays the
// same across restarts (so workers' channels reconnect by themselves), logging to
// DIR/controller.log.
class ControllerProcess {
 public:
  ControllerProcess(std::string binary, std::string database_url, std::string dir,
                    absl::Duration lease_ttl);
  ~ControllerProcess();

  // Starts the process (no wait). Start() after Kill() is a restart.
  void Start();
  // Kills it with SIGKILL and reaps it.
  void Kill();
  // Waits until grpc.health.v1 answers SERVING; false after `timeout`.
  bool WaitServing(absl::Duration timeout);
  // grpc.health.v1 now: 1 SERVING, 0 NOT_SERVING, -1 no answer (down, or no answer in 1 s).
  int Health();
  std::string address() const;
  bool running() const { return pid_ > 0; }

 private:
  const std::string binary_;
  const std::string database_url_;
  const std::string dir_;
  const absl::Duration lease_ttl_;
  int port_ = 0;
  pid_t pid_ = 0;
};

// What a simulated worker does with what it leases.
struct FleetOptions {
  int workers = 8;
  // Simulated training time per lease, uniform in [min, max].
  absl::Duration work_min = absl::Milliseconds(5);
  absl::Duration work_max = absl::Milliseconds(40);
  // Workers (the first N) that report every lease as failed.
  int failing_workers = 0;
  // A candidate is poison (every worker fails it) when its architecture hash says so, with
  // this probability (0: none).
  double poison_fraction = 0;
};

// One acknowledged report (the controller answered OK).
struct Ack {
  int64_t lease_id = 0;
  int64_t candidate_id = 0;
  int worker = 0;  // index in the fleet
  bool success = false;
  bool duplicate = false;
  absl::Time at;
};

// Fleet: simulated workers, each a thread with its own channel: register, long-poll a lease,
// "train", upload a model, report; every call retried on UNAVAILABLE (and heartbeats sent
// meanwhile), as nas-trainer does.
class Fleet {
 public:
  Fleet(std::string address, FleetOptions options);
  ~Fleet();  // Stops every worker.

  // Fleet::Vanish() makes `n` healthy workers stop dead after their next lease: no report, no
  // return, the lease left to expire (a killed worker).
  void Vanish(int n);
  // Fleet::Add() starts `n` more healthy workers.
  void Add(int n);
  void Stop();

  std::vector<Ack> Acks();
  // Time of the first acknowledged successful report at or after `t` (InfiniteFuture if none).
  absl::Time FirstAckAfter(absl::Time t);
  int64_t successes() const { return successes_.load(); }
  // LeaseWork answers FAILED_PRECONDITION (quarantine) seen, by worker index.
  std::map<int, int> QuarantineAnswers();
  // Unexpected answers (anything but OK, UNAVAILABLE, DEADLINE_EXCEEDED, a fence on a lease the
  // controller ended): should stay empty.
  std::vector<std::string> Surprises();

  static bool IsPoison(const nas::v1::Architecture& arch, double fraction);

 private:
  void Run(int index, bool failing);

  const std::string address_;
  const FleetOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<int> to_vanish_{0};
  std::atomic<int64_t> successes_{0};
  std::mutex mu_;
  std::vector<Ack> acks_;
  std::map<int, int> quarantined_;
  std::vector<std::string> surprises_;
  std::vector<std::thread> threads_;
};

// SubmitSearch() submits a search of `candidates` candidates on the default MobileNetV2 space
// (three profiles, three objectives) as the admin and returns its id.
absl::StatusOr<int64_t> SubmitSearch(const std::string& address, int candidates, int max_parallel,
                                     int max_attempts = 3);
// GetSearch() reads a search through the API (no answer: an error).
absl::StatusOr<nas::v1::Search> GetSearch(const std::string& address, int64_t search_id);
// CancelSearch() cancels a search through the API.
absl::Status CancelSearch(const std::string& address, int64_t search_id);
// WaitForEnd() polls until the search is no longer RUNNING (through the API, riding out
// outages), or `timeout`. Returns its final state, or RUNNING on timeout.
nas::v1::SearchState WaitForEnd(const std::string& address, int64_t search_id,
                                absl::Duration timeout);
// WaitForAcks() waits until the fleet has `n` successful acknowledged reports, or `timeout`.
bool WaitForAcks(Fleet& fleet, int64_t n, absl::Duration timeout);

// Figures: what a chaos scenario measures, in SQL and through the API.
struct Figures {
  int64_t acknowledged = 0;      // successful reports the controller acknowledged
  int64_t lost = 0;              // ... whose evaluation is not stored under that lease
  int64_t evaluated_twice = 0;   // candidates with more than one acknowledged evaluation
  int64_t healthy_failed = 0;    // FAILED candidates that are not poison
  int64_t poison_failed = 0;     // FAILED candidates that are poison
  int64_t poison_evaluated = 0;  // poison candidates evaluated (must be 0)
  int64_t evaluated = 0;         // EVALUATED candidates in the store
  int64_t stuck = 0;             // candidates QUEUED or LEASED, or leases ACTIVE, after the end
  int64_t expired_leases = 0;
  int64_t max_attempts = 0;  // the most attempts any candidate of the search was charged
  int64_t quarantined_workers = 0;
  std::string ToString() const;
};
absl::StatusOr<Figures> Measure(const std::string& database_url, int64_t search_id, Fleet& fleet,
                                double poison_fraction);

// SpawnLogged() starts args[0] with `args`, stdout and stderr appended to `log`; 0 on failure.
pid_t SpawnLogged(const std::vector<std::string>& args, const std::string& log);

// Where the test binary finds a runfile (Bazel's runfiles tree, else the path itself).
std::string Runfile(const std::string& path);

}  // namespace nas::chaos

#endif  // NAS_TESTS_CHAOS_CHAOS_HARNESS_H_
