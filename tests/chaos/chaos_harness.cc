#include "tests/chaos/chaos_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <pqxx/pqxx>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/error_reason.h"
#include "proto/health.grpc.pb.h"
#include "proto/nas_service.grpc.pb.h"
#include "proto/trainer_service.grpc.pb.h"
#include "search/search_space.h"
#include "services/crypto.h"
#include "tests/controller_harness.h"

extern char** environ;

namespace nas::chaos {
namespace {

using nas::v1::TrainerService;

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

void Authorize(grpc::ClientContext* ctx, const char* token, absl::Duration timeout) {
  ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// Answers a worker keeps retrying: the controller or its database is away for a while.
bool Transient(const grpc::Status& st) {
  return st.error_code() == grpc::StatusCode::UNAVAILABLE ||
         st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         st.error_code() == grpc::StatusCode::ABORTED;
}

}  // namespace

std::string Runfile(const std::string& path) {
  if (access(path.c_str(), X_OK) == 0) return path;
  if (const char* dir = getenv("TEST_SRCDIR")) return absl::StrCat(dir, "/nas/", path);
  return path;
}

// ---- ControllerProcess ------------------------------------------------------------------------

ControllerProcess::ControllerProcess(std::string binary, std::string database_url, std::string dir,
                                     absl::Duration lease_ttl)
    : binary_(std::move(binary)),
      database_url_(std::move(database_url)),
      dir_(std::move(dir)),
      lease_ttl_(lease_ttl),
      port_(FreePort()) {
  std::ofstream(dir_ + "/worker.token") << kWorkerToken << "\n";
  std::ofstream(dir_ + "/admin.token") << kAdminToken << "\n";
}

ControllerProcess::~ControllerProcess() { Kill(); }

std::string ControllerProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

pid_t SpawnLogged(const std::vector<std::string>& args, const std::string& log) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = 0;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

void ControllerProcess::Start() {
  if (pid_ > 0) return;
  const std::vector<std::string> args = {
      binary_,
      "--listen=" + address(),
      "--database_url=" + database_url_,
      "--worker_token_file=" + dir_ + "/worker.token",
      "--admin_token_file=" + dir_ + "/admin.token",
      absl::StrCat("--lease_ttl_seconds=", absl::ToInt64Seconds(lease_ttl_)),
      "--db_pool_size=8"};
  pid_ = SpawnLogged(args, dir_ + "/controller.log");
}

void ControllerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = 0;
}

int ControllerProcess::Health() {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  if (!stub->Check(&ctx, req, &resp).ok()) return -1;
  return resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 1 : 0;
}

bool ControllerProcess::WaitServing(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    if (Health() == 1) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

// ---- Fleet ------------------------------------------------------------------------------------

Fleet::Fleet(std::string address, FleetOptions options)
    : address_(std::move(address)), options_(options) {
  for (int i = 0; i < options_.workers; ++i) {
    threads_.emplace_back([this, i] { Run(i, i < options_.failing_workers); });
  }
}

Fleet::~Fleet() { Stop(); }

void Fleet::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void Fleet::Vanish(int n) { to_vanish_ += n; }

void Fleet::Add(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) {
    const int index = static_cast<int>(threads_.size());
    threads_.emplace_back([this, index] { Run(index, false); });
  }
}

std::vector<Ack> Fleet::Acks() {
  std::lock_guard<std::mutex> lock(mu_);
  return acks_;
}

absl::Time Fleet::FirstAckAfter(absl::Time t) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Time first = absl::InfiniteFuture();
  for (const Ack& a : acks_) {
    if (a.success && a.at >= t && a.at < first) first = a.at;
  }
  return first;
}

std::map<int, int> Fleet::QuarantineAnswers() {
  std::lock_guard<std::mutex> lock(mu_);
  return quarantined_;
}

std::vector<std::string> Fleet::Surprises() {
  std::lock_guard<std::mutex> lock(mu_);
  return surprises_;
}

bool Fleet::IsPoison(const nas::v1::Architecture& arch, double fraction) {
  if (fraction <= 0) return false;
  const std::string hash = ArchitectureHash(arch);
  return std::stoul(hash.substr(0, 6), nullptr, 16) < fraction * 0x1000000;
}

void Fleet::Run(int index, bool failing) {
  std::mt19937_64 rng(index * 7919 + 1);
  // As nas-trainer: reconnect within 2 s of the controller's return.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetLoadBalancingPolicyName("round_robin");  // several controllers: spread, skip the dead
  auto stub = TrainerService::NewStub(
      grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args));
  auto surprise = [&](const std::string& what, const grpc::Status& st) {
    std::lock_guard<std::mutex> lock(mu_);
    surprises_.push_back(
        absl::StrCat("worker ", index, " ", what, ": ", st.error_code(), " ", st.error_message()));
  };
  auto pause = [&](absl::Duration d) {
    const absl::Time until = absl::Now() + d;
    while (!stop_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  };
  int64_t worker_id = 0;
  while (!stop_) {
    if (worker_id == 0) {
      grpc::ClientContext ctx;
      Authorize(&ctx, kWorkerToken, absl::Seconds(5));
      nas::v1::RegisterWorkerRequest req;
      req.set_name(absl::StrCat("chaos-", index));
      req.set_device_tag("host-cpu");
      req.set_threads(1);
      nas::v1::RegisterWorkerResponse resp;
      grpc::Status st = stub->RegisterWorker(&ctx, req, &resp);
      if (!st.ok()) {
        if (!Transient(st)) surprise("register", st);
        pause(absl::Milliseconds(200));
        continue;
      }
      worker_id = resp.worker_id();
    }
    nas::v1::LeaseWorkResponse lease;
    {
      grpc::ClientContext ctx;
      Authorize(&ctx, kWorkerToken, absl::Seconds(6));
      nas::v1::LeaseWorkRequest req;
      req.set_worker_id(worker_id);
      req.set_wait_ms(1000);
      grpc::Status st = stub->LeaseWork(&ctx, req, &lease);
      const bool quarantined =
          st.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
          ReasonOfDetails(st.error_details()) == ErrorReason::kWorkerQuarantined;
      if (quarantined) {
        std::lock_guard<std::mutex> lock(mu_);
        ++quarantined_[index];
      }
      if (!st.ok()) {
        if (!Transient(st) && !quarantined) surprise("lease", st);
        pause(absl::Milliseconds(200));
        continue;
      }
    }
    if (lease.lease_id() == 0) continue;
    if (!failing) {
      int n = to_vanish_.load();
      while (n > 0 && !to_vanish_.compare_exchange_weak(n, n - 1)) {
      }
      if (n > 0) return;  // a killed worker: its lease is left to expire
    }
    std::uniform_int_distribution<int64_t> work(absl::ToInt64Milliseconds(options_.work_min),
                                                absl::ToInt64Milliseconds(options_.work_max));
    pause(absl::Milliseconds(work(rng)));
    const bool fail = failing || IsPoison(lease.architecture(), options_.poison_fraction);

    // Heartbeat: keeps a lease the controller extended alive while a call is retried.
    auto heartbeat = [&] {
      grpc::ClientContext ctx;
      Authorize(&ctx, kWorkerToken, absl::Seconds(2));
      nas::v1::HeartbeatRequest req;
      req.set_worker_id(worker_id);
      req.set_lease_id(lease.lease_id());
      nas::v1::HeartbeatResponse resp;
      return stub->Heartbeat(&ctx, req, &resp);
    };
    // Retries `call` while the controller is away; returns its last answer.
    auto retried = [&](const std::function<grpc::Status()>& call) {
      grpc::Status st = call();
      for (absl::Duration wait = absl::Milliseconds(100); Transient(st) && !stop_;
           wait = std::min(wait * 2, absl::Seconds(1))) {
        pause(wait);
        heartbeat();
        st = call();
      }
      return st;
    };
    if (!fail) {
      const std::string model = TestWorker::ModelFor(lease.candidate_id());
      grpc::Status up = retried([&] {
        grpc::ClientContext ctx;
        Authorize(&ctx, kWorkerToken, absl::Seconds(10));
        nas::v1::UploadArtifactResponse resp;
        auto writer = stub->UploadArtifact(&ctx, &resp);
        nas::v1::UploadArtifactRequest head;
        auto* h = head.mutable_header();
        h->set_worker_id(worker_id);
        h->set_lease_id(lease.lease_id());
        h->set_sha256(Sha256Hex(model));
        h->set_size_bytes(static_cast<int64_t>(model.size()));
        h->set_format("torchscript");
        bool ok = writer->Write(head);
        for (size_t off = 0; ok && off < model.size(); off += 1 << 20) {
          nas::v1::UploadArtifactRequest chunk;
          chunk.set_chunk(model.substr(off, 1 << 20));
          ok = writer->Write(chunk);
        }
        writer->WritesDone();
        return writer->Finish();
      });
      if (!up.ok() && up.error_code() != grpc::StatusCode::FAILED_PRECONDITION && !stop_) {
        surprise("upload", up);
      }
    }
    nas::v1::ReportResultRequest report;
    report.set_worker_id(worker_id);
    report.set_lease_id(lease.lease_id());
    if (fail) {
      report.set_error(failing ? "simulated broken worker" : "simulated poison candidate");
    } else {
      *report.mutable_metrics() = TestWorker::MetricsFor(lease);
    }
    nas::v1::ReportResultResponse resp;
    grpc::Status st = retried([&] {
      grpc::ClientContext ctx;
      Authorize(&ctx, kWorkerToken, absl::Seconds(5));
      return stub->ReportResult(&ctx, report, &resp);
    });
    if (st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      acks_.push_back(
          {lease.lease_id(), lease.candidate_id(), index, !fail, resp.duplicate(), absl::Now()});
      if (!fail) ++successes_;
    } else if (st.error_code() == grpc::StatusCode::NOT_FOUND) {
      worker_id = 0;
    } else if (st.error_code() != grpc::StatusCode::FAILED_PRECONDITION && !stop_) {
      surprise("report", st);
    }
  }
}

// ---- Searches ---------------------------------------------------------------------------------

absl::StatusOr<int64_t> SubmitSearch(const std::string& address, int candidates, int max_parallel,
                                     int max_attempts) {
  auto stub = nas::v1::NasService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  nas::v1::SubmitSearchRequest req;
  nas::v1::SearchSpec* spec = req.mutable_spec();
  spec->set_display_name("chaos");
  spec->mutable_strategy()->set_seed(7);
  for (const char* p : {"host-cpu", "rpi4-cortex-a72", "cortex-m7"}) spec->add_profile_ids(p);
  spec->add_objectives()->set_metric(nas::v1::METRIC_ACCURACY);
  spec->add_objectives()->set_metric(nas::v1::METRIC_LATENCY);
  spec->add_objectives()->set_metric(nas::v1::METRIC_PEAK_ACTIVATION_BYTES);
  spec->mutable_budget()->set_max_candidates(candidates);
  spec->mutable_budget()->set_max_parallel(max_parallel);
  spec->mutable_budget()->set_max_attempts(max_attempts);
  grpc::ClientContext ctx;
  Authorize(&ctx, kAdminToken, absl::Seconds(30));
  nas::v1::Search search;
  grpc::Status st = stub->SubmitSearch(&ctx, req, &search);
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }
  return search.id();
}

absl::StatusOr<nas::v1::Search> GetSearch(const std::string& address, int64_t search_id) {
  auto stub = nas::v1::NasService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  Authorize(&ctx, kAdminToken, absl::Seconds(5));
  nas::v1::GetSearchRequest req;
  req.set_search_id(search_id);
  nas::v1::Search search;
  grpc::Status st = stub->GetSearch(&ctx, req, &search);
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }
  return search;
}

absl::Status CancelSearch(const std::string& address, int64_t search_id) {
  auto stub = nas::v1::NasService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  Authorize(&ctx, kAdminToken, absl::Seconds(10));
  nas::v1::CancelSearchRequest req;
  req.set_search_id(search_id);
  nas::v1::Search search;
  grpc::Status st = stub->CancelSearch(&ctx, req, &search);
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }
  return absl::OkStatus();
}

nas::v1::SearchState WaitForEnd(const std::string& address, int64_t search_id,
                                absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    absl::StatusOr<nas::v1::Search> s = GetSearch(address, search_id);
    if (s.ok() && s->state() != nas::v1::SEARCH_STATE_RUNNING) return s->state();
    absl::SleepFor(absl::Milliseconds(250));
  }
  return nas::v1::SEARCH_STATE_RUNNING;
}

bool WaitForAcks(Fleet& fleet, int64_t n, absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (fleet.successes() < n) {
    if (absl::Now() > until) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

// ---- Figures ----------------------------------------------------------------------------------

std::string Figures::ToString() const {
  return absl::StrFormat(
      "acknowledged %d, lost %d, evaluated twice %d, healthy FAILED %d, poison FAILED %d, "
      "poison evaluated %d, evaluated %d, stuck %d, expired leases %d, most attempts %d, "
      "quarantined workers %d",
      acknowledged, lost, evaluated_twice, healthy_failed, poison_failed, poison_evaluated,
      evaluated, stuck, expired_leases, max_attempts, quarantined_workers);
}

absl::StatusOr<Figures> Measure(const std::string& database_url, int64_t search_id, Fleet& fleet,
                                double poison_fraction) {
  Figures f;
  std::map<int64_t, std::set<int64_t>> leases_by_candidate;
  std::vector<int64_t> acked;
  for (const Ack& a : fleet.Acks()) {
    if (!a.success) continue;
    acked.push_back(a.lease_id);
    leases_by_candidate[a.candidate_id].insert(a.lease_id);
  }
  f.acknowledged = static_cast<int64_t>(acked.size());
  for (const auto& [candidate, leases] : leases_by_candidate) {
    if (leases.size() > 1) ++f.evaluated_twice;
  }
  try {
    pqxx::connection c(database_url);
    pqxx::work tx(c);
    std::set<int64_t> stored;
    for (const pqxx::row& r :
         tx.exec_params("SELECT e.lease_id FROM evaluations e JOIN candidates c "
                        "ON c.id = e.candidate_id WHERE c.search_id = $1",
                        search_id)) {
      stored.insert(r[0].as<int64_t>());
    }
    for (int64_t lease : acked) {
      if (stored.count(lease) == 0) ++f.lost;
    }
    // Completed, successful leases per candidate in the store, too.
    f.evaluated_twice +=
        tx.exec_params1(
              "SELECT count(*) FROM (SELECT candidate_id FROM leases WHERE search_id = $1 "
              "  AND state = 'COMPLETED' AND NOT failed AND gang_rank IS NULL "
              "  AND profile_id IS NULL GROUP BY candidate_id HAVING count(*) > 1) t",
              search_id)[0]
            .as<int64_t>();
    for (const pqxx::row& r :
         tx.exec_params("SELECT state, arch FROM candidates WHERE search_id = $1", search_id)) {
      const std::string state = r[0].as<std::string>();
      nas::v1::Architecture arch;
      arch.ParseFromString(pqxx::binarystring(r[1]).str());
      const bool poison = Fleet::IsPoison(arch, poison_fraction);
      if (state == "FAILED") ++(poison ? f.poison_failed : f.healthy_failed);
      if (state == "EVALUATED") ++f.evaluated;
      if (state == "EVALUATED" && poison) ++f.poison_evaluated;
      if (state == "QUEUED" || state == "LEASED") ++f.stuck;
    }
    f.stuck +=
        tx.exec_params1("SELECT count(*) FROM leases WHERE search_id = $1 AND state = 'ACTIVE'",
                        search_id)[0]
            .as<int64_t>();
    f.expired_leases =
        tx.exec_params1("SELECT count(*) FROM leases WHERE search_id = $1 AND state = 'EXPIRED'",
                        search_id)[0]
            .as<int64_t>();
    f.max_attempts =
        tx.exec_params1("SELECT COALESCE(max(attempts), 0) FROM candidates WHERE search_id = $1",
                        search_id)[0]
            .as<int64_t>();
    f.quarantined_workers =
        tx.exec1("SELECT count(*) FROM workers WHERE quarantined_until IS NOT NULL")[0]
            .as<int64_t>();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("measuring: ", e.what()));
  }
  return f;
}

}  // namespace nas::chaos
