// Workers and leases: registration, granting work (training, estimates, measurements,
// gang members of a supernet epoch), heartbeats, uploads, returns and expiry.
#include <optional>
#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/dataset_name.h"
#include "common/error_reason.h"
#include "common/model_format.h"
#include "common/status_macros.h"
#include "common/work_kind.h"
#include "engine/lifecycle.h"
#include "search/weight_sharing.h"
#include "services/store/fronts.h"
#include "services/store/pool.h"
#include "services/store/rows.h"
#include "services/store/search_profiles.h"
#include "services/store/store.h"
#include "services/store/transitions.h"

namespace nas {

namespace {

// The newest checkpoint of a search's supernet (hex SHA-256): the artifact of its last trained
// epoch; empty before the first.
std::string LatestCheckpoint(pqxx::work& tx, int64_t search_id) {
  pqxx::result r = tx.exec_params(
      "SELECT a.sha256 FROM artifacts a JOIN candidates c ON c.id = a.candidate_id "
      "WHERE c.search_id = $1 AND c.rung = -1 AND c.state = 'EVALUATED' "
      "ORDER BY c.id DESC LIMIT 1",
      search_id);
  return r.empty() ? std::string() : r[0][0].as<std::string>();
}

// What a lease of a weight-sharing search needs of its supernet.
absl::Status FillSupernetWork(pqxx::work& tx, int64_t search_id, const SearchSpec& spec,
                              const nas::v1::Fidelity& fidelity, nas::v1::SupernetWork* work) {
  NAS_ASSIGN_OR_RETURN(WeightSharingPlan plan, ParseWeightSharing(spec.strategy()));
  *work->mutable_space() = spec.space();
  work->set_epochs(plan.supernet_epochs);
  work->set_examples(plan.supernet_examples);
  work->set_sandwich(plan.sandwich);
  work->set_random_subnets(plan.random_subnets);
  work->set_recalibration_batches(plan.recalibration_batches);
  work->set_estimate_examples(plan.estimate_examples);
  if (fidelity.rung() < 0) {
    work->set_epoch(fidelity.epochs());
    work->set_checkpoint_sha256(LatestCheckpoint(tx, search_id));
    work->set_world_size(plan.supernet_workers);
    return absl::OkStatus();
  }
  const int64_t owner = plan.supernet_search != 0 ? plan.supernet_search : search_id;
  work->set_checkpoint_sha256(LatestCheckpoint(tx, owner));
  if (work->checkpoint_sha256().empty()) {
    return absl::InternalError(absl::StrCat("search ", owner, " has no trained supernet"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> Store::RegisterWorker(const nas::v1::RegisterWorkerRequest& request) {
  // A PostgreSQL array literal; the controller has checked that each name is 1 to 64 of
  // [a-z0-9._-], so quoting needs no escapes.
  std::vector<std::string> quoted;
  for (const std::string& d : request.datasets()) quoted.push_back(absl::StrCat("\"", d, "\""));
  if (quoted.empty()) quoted.push_back(absl::StrCat("\"", kDefaultDataset, "\""));
  const std::string datasets = absl::StrCat("{", absl::StrJoin(quoted, ","), "}");
  return pool_->Run("RegisterWorker", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    for (const nas::v1::DatasetSize& size : request.dataset_sizes()) {
      tx.exec_params(
          "INSERT INTO dataset_sizes (name, train_examples, test_examples) VALUES ($1, $2, $3) "
          "ON CONFLICT (name) DO UPDATE SET train_examples = EXCLUDED.train_examples, "
          "test_examples = EXCLUDED.test_examples, reported_at = now()",
          size.name(), size.train_examples(), size.test_examples());
    }
    return tx
        .exec_params1(
            "INSERT INTO workers (name, device_tag, cpu_model, threads, measure_only, datasets, "
            "auto_precision) VALUES ($1, $2, $3, $4, $5, $6::TEXT[], $7) RETURNING id",
            request.name(), request.device_tag(), request.cpu_model(), request.threads(),
            request.measure_only(), datasets, request.auto_precision())[0]
        .as<int64_t>();
  });
}

absl::StatusOr<std::optional<int64_t>> Store::DatasetTrainExamples(const std::string& dataset) {
  return pool_->Run(
      "DatasetTrainExamples", [&](pqxx::work& tx) -> absl::StatusOr<std::optional<int64_t>> {
        const pqxx::result r =
            tx.exec_params("SELECT train_examples FROM dataset_sizes WHERE name = $1", dataset);
        if (r.empty()) return std::optional<int64_t>();
        return std::optional<int64_t>(r[0][0].as<int64_t>());
      });
}

absl::StatusOr<std::vector<std::string>> Store::ServedDatasets() {
  return pool_->Run(
      "ServedDatasets", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<std::string>> {
        std::vector<std::string> names;
        for (const pqxx::row& r :
             tx.exec("SELECT DISTINCT unnest(datasets) AS d FROM workers ORDER BY d")) {
          names.push_back(r[0].as<std::string>());
        }
        return names;
      });
}

namespace {

// A measure-only worker's lease: the oldest finished candidate whose latency on a measured
// profile of this worker's device nobody has timed yet (of a running or succeeded search, so
// the last candidates of a search are measured too), and that no live lease is measuring.
std::optional<nas::v1::LeaseWorkResponse> LeaseMeasurement(pqxx::work& tx,
                                                           SearchProfileCache& profiles,
                                                           int64_t worker_id,
                                                           const std::string& device_tag,
                                                           absl::Duration ttl) {
  pqxx::result m = tx.exec_params(
      "SELECT pm.candidate_id, pm.search_id, pm.profile_id, c.arch, s.spec "
      "FROM profile_metrics pm JOIN candidates c ON c.id = pm.candidate_id "
      "JOIN searches s ON s.id = pm.search_id "
      "WHERE pm.measure_device = $1 AND s.state IN ('RUNNING', 'SUCCEEDED') "
      "  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.candidate_id = pm.candidate_id "
      "                  AND l.profile_id = pm.profile_id AND l.state = 'ACTIVE') "
      "ORDER BY pm.candidate_id LIMIT 1 FOR UPDATE OF pm SKIP LOCKED",
      device_tag);
  if (m.empty()) return std::nullopt;
  nas::v1::LeaseWorkResponse lease;
  lease.set_candidate_id(m[0][0].as<int64_t>());
  lease.set_search_id(m[0][1].as<int64_t>());
  const int64_t profile_db_id = m[0][2].as<int64_t>();
  *lease.mutable_architecture() = Parse<nas::v1::Architecture>(m[0][3]);
  const SearchSpec spec = Parse<SearchSpec>(m[0][4]);
  lease.set_dataset(spec.dataset());
  lease.set_measure_only(true);
  lease.set_kind(nas::v1::WORK_KIND_MEASURE);
  for (const SearchProfile& p : *profiles.Get(tx, lease.search_id())) {
    if (p.db_id == profile_db_id) lease.add_measure_profile_ids(p.profile.id());
  }
  pqxx::row l = tx.exec_params1(
      "INSERT INTO leases (candidate_id, search_id, worker_id, state, expires_at, profile_id, "
      "  kind) "
      "VALUES ($1, $2, $3, 'ACTIVE', now() + $4 * interval '1 millisecond', $5, $6) "
      "RETURNING id, (extract(epoch FROM expires_at) * 1000)::BIGINT",
      lease.candidate_id(), lease.search_id(), worker_id, absl::ToInt64Milliseconds(ttl),
      profile_db_id, WorkKindName(lease.kind()));
  lease.set_lease_id(l[0].as<int64_t>());
  lease.set_expires_at_ms(l[1].as<int64_t>());
  AppendEvent(
      tx, lease.search_id(), nas::v1::SEARCH_EVENT_KIND_CANDIDATE_LEASED, lease.candidate_id(),
      lease.measure_profile_ids(0),
      absl::StrCat("candidate ", lease.candidate_id(), " leased to measure-only worker ", worker_id,
                   " for ", lease.measure_profile_ids(0), " (lease ", lease.lease_id(), ")"));
  return lease;
}

}  // namespace

namespace {

// Leases one queued candidate row (id, search_id, arch, fidelity, spec) to a worker: marks it
// leased, records the lease and its event, and names the measured profiles of the worker's
// device.
absl::StatusOr<nas::v1::LeaseWorkResponse> GrantLease(pqxx::work& tx, SearchProfileCache& profiles,
                                                      const pqxx::row& c, int64_t worker_id,
                                                      const std::string& device_tag,
                                                      absl::Duration ttl) {
  nas::v1::LeaseWorkResponse lease;
  lease.set_candidate_id(c[0].as<int64_t>());
  lease.set_search_id(c[1].as<int64_t>());
  *lease.mutable_architecture() = Parse<nas::v1::Architecture>(c[2]);
  *lease.mutable_fidelity() = Parse<nas::v1::Fidelity>(c[3]);
  const SearchSpec spec = Parse<SearchSpec>(c[4]);
  *lease.mutable_recipe() = engine::RecipeFor(spec, lease.fidelity());
  lease.set_dataset(spec.dataset());
  if (IsWeightSharing(spec.strategy())) {
    NAS_RETURN_IF_ERROR(
        FillSupernetWork(tx, lease.search_id(), spec, lease.fidelity(), lease.mutable_supernet()));
  }
  // Training, a subnet estimate, or (rank 0 of) a supernet epoch.
  lease.set_kind(WorkKindOf(lease));
  if (lease.kind() == nas::v1::WORK_KIND_TRAIN) {
    // An earlier lease of this candidate was lost mid-training after an epoch's checkpoint.
    const pqxx::result ck = tx.exec_params(
        "SELECT sha256, metadata FROM artifacts WHERE candidate_id = $1 AND format = $2",
        lease.candidate_id(), kTrainingCheckpointFormat);
    if (!ck.empty()) {
      lease.mutable_resume()->set_sha256(ck[0][0].as<std::string>());
      lease.mutable_resume()->set_epochs(
          Parse<nas::v1::ModelMetadata>(ck[0][1]).checkpoint_epochs());
    }
  }
  tx.exec_params("UPDATE candidates SET state = 'LEASED', attempts = attempts + 1 WHERE id = $1",
                 lease.candidate_id());
  pqxx::row l = tx.exec_params1(
      "INSERT INTO leases (candidate_id, search_id, worker_id, state, expires_at, kind) "
      "VALUES ($1, $2, $3, 'ACTIVE', now() + $4 * interval '1 millisecond', $5) "
      "RETURNING id, (extract(epoch FROM expires_at) * 1000)::BIGINT",
      lease.candidate_id(), lease.search_id(), worker_id, absl::ToInt64Milliseconds(ttl),
      WorkKindName(lease.kind()));
  lease.set_lease_id(l[0].as<int64_t>());
  lease.set_expires_at_ms(l[1].as<int64_t>());
  for (const SearchProfile& p : *profiles.Get(tx, lease.search_id())) {
    if (p.profile.kind() == nas::v1::PROFILE_KIND_MEASURED &&
        p.profile.device_tag() == device_tag) {
      lease.add_measure_profile_ids(ProfileId(p.profile.name(), p.profile.version()));
    }
  }
  AppendEvent(
      tx, lease.search_id(), nas::v1::SEARCH_EVENT_KIND_CANDIDATE_LEASED, lease.candidate_id(), "",
      absl::StrCat("candidate ", lease.candidate_id(), " leased to worker ", worker_id, " (lease ",
                   lease.lease_id(), ")",
                   lease.has_resume() ? absl::StrCat(", resuming from its checkpoint of epoch ",
                                                     lease.resume().epochs())
                                      : ""));
  return lease;
}

// Grants the next rank of a data-parallel supernet epoch whose rank 0 waits for its gang
// (a published rendezvous, fewer members than gang_size - 1), if any on the worker's
// datasets: a member lease on the same candidate, naming rank 0's lease and store.
absl::StatusOr<std::optional<nas::v1::LeaseWorkResponse>> GrantGangMember(
    pqxx::work& tx, int64_t worker_id, const std::string& datasets, absl::Duration ttl) {
  pqxx::result g = tx.exec_params(
      "SELECT g.id, g.candidate_id, g.search_id, c.arch, c.fidelity, s.spec, g.rendezvous, "
      "  g.gang_size, (SELECT count(*) FROM leases m WHERE m.gang_lease_id = g.id) "
      "FROM leases g JOIN candidates c ON c.id = g.candidate_id "
      "JOIN searches s ON s.id = g.search_id "
      "WHERE g.state = 'ACTIVE' AND g.rendezvous IS NOT NULL AND g.expires_at >= now() "
      "  AND g.worker_id <> $2 AND s.state = 'RUNNING' AND s.dataset = ANY($1::TEXT[]) "
      "  AND (SELECT count(*) FROM leases m WHERE m.gang_lease_id = g.id) < g.gang_size - 1 "
      "ORDER BY g.id LIMIT 1 FOR UPDATE OF g SKIP LOCKED",
      datasets, worker_id);
  if (g.empty()) return std::optional<nas::v1::LeaseWorkResponse>();
  const int64_t gang_lease = g[0][0].as<int64_t>();
  nas::v1::LeaseWorkResponse lease;
  lease.set_candidate_id(g[0][1].as<int64_t>());
  lease.set_search_id(g[0][2].as<int64_t>());
  *lease.mutable_architecture() = Parse<nas::v1::Architecture>(g[0][3]);
  *lease.mutable_fidelity() = Parse<nas::v1::Fidelity>(g[0][4]);
  const SearchSpec spec = Parse<SearchSpec>(g[0][5]);
  *lease.mutable_recipe() = engine::RecipeFor(spec, lease.fidelity());
  lease.set_dataset(spec.dataset());
  NAS_RETURN_IF_ERROR(
      FillSupernetWork(tx, lease.search_id(), spec, lease.fidelity(), lease.mutable_supernet()));
  const int rank = g[0][8].as<int>() + 1;
  lease.mutable_supernet()->set_rank(rank);
  lease.mutable_supernet()->set_world_size(g[0][7].as<int>());
  lease.mutable_supernet()->set_store_address(g[0][6].as<std::string>());
  lease.set_kind(nas::v1::WORK_KIND_GANG_MEMBER);
  pqxx::row l = tx.exec_params1(
      "INSERT INTO leases (candidate_id, search_id, worker_id, state, expires_at, "
      "  gang_lease_id, gang_rank, kind) "
      "VALUES ($1, $2, $3, 'ACTIVE', now() + $4 * interval '1 millisecond', $5, $6, $7) "
      "RETURNING id, (extract(epoch FROM expires_at) * 1000)::BIGINT",
      lease.candidate_id(), lease.search_id(), worker_id, absl::ToInt64Milliseconds(ttl),
      gang_lease, rank, WorkKindName(lease.kind()));
  lease.set_lease_id(l[0].as<int64_t>());
  lease.set_expires_at_ms(l[1].as<int64_t>());
  AppendEvent(tx, lease.search_id(), nas::v1::SEARCH_EVENT_KIND_CANDIDATE_LEASED,
              lease.candidate_id(), "",
              absl::StrCat("supernet epoch ", lease.supernet().epoch(), ": rank ", rank, " of ",
                           lease.supernet().world_size(), " leased to worker ", worker_id,
                           " (lease ", lease.lease_id(), ", gang of lease ", gang_lease, ")"));
  return std::optional<nas::v1::LeaseWorkResponse>(std::move(lease));
}

}  // namespace

absl::StatusOr<std::optional<nas::v1::LeaseWorkResponse>> Store::LeaseNext(int64_t worker_id,
                                                                           absl::Duration ttl,
                                                                           int max_estimates) {
  using Result = std::optional<nas::v1::LeaseWorkResponse>;
  return pool_->Run("LeaseNext", [&](pqxx::work& tx) -> absl::StatusOr<Result> {
    pqxx::result w = tx.exec_params(
        "UPDATE workers SET last_seen_at = now() WHERE id = $1 "
        "RETURNING device_tag, datasets, measure_only, quarantined_until > now(), "
        "  rfc3339(quarantined_until), quarantine_reason",
        worker_id);
    if (w.empty()) {
      return absl::NotFoundError(
          absl::StrCat("worker ", worker_id, " is not registered; call RegisterWorker"));
    }
    if (!w[0][3].is_null() && w[0][3].as<bool>()) {
      return WithReason(absl::FailedPreconditionError(absl::StrCat(
                            "worker ", worker_id, " is quarantined until ",
                            w[0][4].as<std::string>(), ": ", w[0][5].as<std::string>())),
                        ErrorReason::kWorkerQuarantined);
    }
    const std::string device_tag = w[0][0].as<std::string>();
    if (w[0][2].as<bool>()) return LeaseMeasurement(tx, *profiles_, worker_id, device_tag, ttl);
    // A gang waiting for its ranks comes first: its rank 0 idles until they join.
    NAS_ASSIGN_OR_RETURN(Result member, GrantGangMember(tx, worker_id, w[0][1].c_str(), ttl));
    if (member.has_value()) return member;
    // Only candidates of searches on a dataset this worker has loaded.
    pqxx::result c = tx.exec_params(
        "SELECT c.id, c.search_id, c.arch, c.fidelity, s.spec FROM candidates c "
        "JOIN searches s ON s.id = c.search_id "
        "WHERE c.state = 'QUEUED' AND s.state = 'RUNNING' AND s.dataset = ANY($1::TEXT[]) "
        // Not a candidate this worker failed, while another live worker could take it.
        "  AND NOT (EXISTS (SELECT 1 FROM leases f WHERE f.candidate_id = c.id "
        "                   AND f.worker_id = $2 AND f.failed) "
        "       AND EXISTS (SELECT 1 FROM workers o WHERE o.id <> $2 AND NOT o.measure_only "
        "                   AND o.last_seen_at > now() - interval '1 minute' "
        "                   AND (o.quarantined_until IS NULL OR o.quarantined_until <= now()) "
        "                   AND s.dataset = ANY(o.datasets))) "
        "ORDER BY c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED",
        w[0][1].c_str(), worker_id);
    if (c.empty()) return Result();
    NAS_ASSIGN_OR_RETURN(nas::v1::LeaseWorkResponse lease,
                         GrantLease(tx, *profiles_, c[0], worker_id, device_tag, ttl));
    if (max_estimates > 1 && lease.fidelity().supernet_estimate()) {
      // The same search's next queued estimates (rung 0 of a weight-sharing search; its
      // fine-tunes are rung 1), all on the checkpoint the first names.
      pqxx::result more = tx.exec_params(
          "SELECT c.id, c.search_id, c.arch, c.fidelity, s.spec FROM candidates c "
          "JOIN searches s ON s.id = c.search_id "
          "WHERE c.search_id = $1 AND c.state = 'QUEUED' AND c.rung = 0 "
          "ORDER BY c.id LIMIT $2 FOR UPDATE OF c SKIP LOCKED",
          lease.search_id(), max_estimates - 1);
      for (const pqxx::row& row : more) {
        NAS_ASSIGN_OR_RETURN(nas::v1::LeaseWorkResponse next,
                             GrantLease(tx, *profiles_, row, worker_id, device_tag, ttl));
        if (!next.fidelity().supernet_estimate() ||
            next.supernet().checkpoint_sha256() != lease.supernet().checkpoint_sha256()) {
          return absl::InternalError(absl::StrCat("candidate ", next.candidate_id(),
                                                  " of a batch is not an estimate of the "
                                                  "first's supernet"));
        }
        *lease.add_batch() = std::move(next);
      }
    }
    return Result(std::move(lease));
  });
}

absl::StatusOr<absl::Time> Store::Heartbeat(const nas::v1::HeartbeatRequest& request,
                                            absl::Duration ttl) {
  return pool_->Run("Heartbeat", [&](pqxx::work& tx) -> absl::StatusOr<absl::Time> {
    pqxx::result r = tx.exec_params(
        "UPDATE leases SET expires_at = now() + $3 * interval '1 millisecond', "
        "  last_heard_at = now(), outage_grace = false "
        "WHERE id = $1 AND worker_id = $2 AND state = 'ACTIVE' "
        "RETURNING (extract(epoch FROM expires_at) * 1000)::BIGINT, search_id, candidate_id",
        request.lease_id(), request.worker_id(), absl::ToInt64Milliseconds(ttl));
    if (r.empty()) return LeaseNotLive(tx, request.worker_id(), request.lease_id());
    tx.exec_params("UPDATE workers SET last_seen_at = now() WHERE id = $1", request.worker_id());
    if (request.has_progress()) {
      const nas::v1::TrainingProgress& p = request.progress();
      AppendEvent(tx, r[0][1].as<int64_t>(), nas::v1::SEARCH_EVENT_KIND_TRAINING_PROGRESS,
                  r[0][2].as<int64_t>(), "",
                  absl::StrFormat("candidate %d: epoch %d/%d, loss %.4f, %.0f samples/s",
                                  r[0][2].as<int64_t>(), p.epoch(), p.epochs(), p.loss(),
                                  p.samples_per_second()));
    }
    return absl::FromUnixMillis(r[0][0].as<int64_t>());
  });
}

absl::Status Store::PublishRendezvous(int64_t worker_id, int64_t lease_id,
                                      const std::string& store_address) {
  return pool_->Run("PublishRendezvous", [&](pqxx::work& tx) -> absl::Status {
    NAS_ASSIGN_OR_RETURN(auto ids, LockLiveLease(tx, worker_id, lease_id));
    pqxx::row r = tx.exec_params1(
        "SELECT l.gang_lease_id IS NOT NULL, l.rendezvous, c.rung, c.fidelity, s.spec "
        "FROM leases l JOIN candidates c ON c.id = l.candidate_id "
        "JOIN searches s ON s.id = l.search_id WHERE l.id = $1",
        lease_id);
    const SearchSpec spec = Parse<SearchSpec>(r[4]);
    absl::StatusOr<WeightSharingPlan> plan = ParseWeightSharing(spec.strategy());
    if (r[0].as<bool>() || r[2].as<int>() >= 0 || !IsWeightSharing(spec.strategy()) || !plan.ok() ||
        plan->supernet_workers < 2) {
      return absl::FailedPreconditionError(
          absl::StrCat("lease ", lease_id,
                       " is not rank 0 of a data-parallel supernet epoch (one with "
                       "strategy setting supernet_workers > 1)"));
    }
    if (!r[1].is_null()) {
      if (r[1].as<std::string>() == store_address) return absl::OkStatus();  // a retry
      return absl::FailedPreconditionError(
          absl::StrCat("lease ", lease_id, " already published ", r[1].as<std::string>()));
    }
    tx.exec_params("UPDATE leases SET rendezvous = $2, gang_size = $3 WHERE id = $1", lease_id,
                   store_address, plan->supernet_workers);
    AppendEvent(tx, ids.second, nas::v1::SEARCH_EVENT_KIND_TRAINING_PROGRESS, ids.first, "",
                absl::StrCat("supernet epoch ", Parse<nas::v1::Fidelity>(r[3]).epochs(),
                             ": rank 0 (worker ", worker_id, ") waits for its gang of ",
                             plan->supernet_workers, " at ", store_address));
    return absl::OkStatus();
  });
}

absl::Status Store::StoreArtifact(const nas::v1::UploadArtifactRequest::Header& header,
                                  const std::string& data) {
  return pool_->Run("StoreArtifact", [&](pqxx::work& tx) -> absl::Status {
    NAS_ASSIGN_OR_RETURN(auto ids, LockLiveLease(tx, header.worker_id(), header.lease_id()));
    if (!tx.exec_params("SELECT 1 FROM leases WHERE id = $1 AND gang_lease_id IS NOT NULL",
                        header.lease_id())
             .empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("lease ", header.lease_id(),
                       " is a rank > 0 of a data-parallel supernet "
                       "epoch; rank 0 uploads the checkpoint"));
    }
    nas::v1::ModelMetadata meta = header.metadata();
    meta.set_candidate_id(ids.first);
    meta.set_search_id(ids.second);
    tx.exec_params(
        "INSERT INTO artifacts (candidate_id, search_id, lease_id, sha256, size_bytes, format, "
        "  metadata, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (candidate_id, format) DO UPDATE SET lease_id = $3, sha256 = $4, "
        "  size_bytes = $5, metadata = $7, data = $8, created_at = now()",
        ids.first, ids.second, header.lease_id(), header.sha256(),
        static_cast<int64_t>(data.size()), header.format(), Bin(meta), pqxx::binarystring(data));
    return absl::OkStatus();
  });
}

absl::Status Store::ReturnLease(int64_t worker_id, int64_t lease_id) {
  return pool_->Run("ReturnLease", [&](pqxx::work& tx) -> absl::Status {
    NAS_ASSIGN_OR_RETURN(auto ids, LockLiveLease(tx, worker_id, lease_id));
    pqxx::row l = tx.exec_params1(
        "UPDATE leases SET state = 'RETURNED', ended_at = now() WHERE id = $1 "
        "RETURNING kind IN ('MEASURE', 'GANG_MEMBER')",
        lease_id);
    // A measurement stays to do (its profile_metrics row still names the device); a gang
    // member's candidate is rank 0's to give back.
    if (l[0].as<bool>()) return absl::OkStatus();
    // A returned lease is not the candidate's fault: give the attempt back.
    tx.exec_params("UPDATE candidates SET state = 'QUEUED', attempts = attempts - 1 WHERE id = $1",
                   ids.first);
    AppendEvent(tx, ids.second, nas::v1::SEARCH_EVENT_KIND_LEASE_EXPIRED, ids.first, "",
                absl::StrCat("worker ", worker_id, " returned lease ", lease_id, "; candidate ",
                             ids.first, " re-queued"));
    NotifyChange(tx);
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> Store::ExtendLiveLeases(absl::Duration ttl, absl::Time away_since) {
  return pool_->Run("ExtendLiveLeases", [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
    pqxx::result r = tx.exec_params(
        "UPDATE leases SET expires_at = greatest(expires_at, "
        "  now() + $1 * interval '1 millisecond'), "
        "  outage_grace = outage_grace OR last_heard_at < to_timestamp($2 / 1000.0) "
        "WHERE state = 'ACTIVE'",
        absl::ToInt64Milliseconds(ttl), absl::ToUnixMillis(away_since));
    return static_cast<int64_t>(r.affected_rows());
  });
}

absl::StatusOr<std::vector<LeaseExpiry>> Store::ExpireLeases() {
  NAS_ASSIGN_OR_RETURN(
      std::vector<LeaseExpiry> due,
      pool_->Run("ExpireLeases", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<LeaseExpiry>> {
        std::vector<LeaseExpiry> out;
        for (const pqxx::row& r :
             tx.exec("SELECT id, candidate_id, search_id FROM leases "
                     "WHERE state = 'ACTIVE' AND expires_at < now() ORDER BY id LIMIT 1000")) {
          out.push_back({r[0].as<int64_t>(), r[1].as<int64_t>(), r[2].as<int64_t>(), false});
        }
        return out;
      }));
  std::vector<LeaseExpiry> expired;
  // One transaction per lease: each expiry is its own state change.
  for (LeaseExpiry& e : due) {
    absl::StatusOr<bool> ended =
        pool_->Run("ExpireLeases", [&](pqxx::work& tx) -> absl::StatusOr<bool> {
          pqxx::row s = tx.exec_params1("SELECT spec FROM searches WHERE id = $1 FOR NO KEY UPDATE",
                                        e.search_id);
          pqxx::result l = tx.exec_params(
              "UPDATE leases SET state = 'EXPIRED', ended_at = now() "
              "WHERE id = $1 AND state = 'ACTIVE' AND expires_at < now() "
              "RETURNING kind IN ('MEASURE', 'GANG_MEMBER'), outage_grace",
              e.lease_id);
          if (l.empty()) return false;  // Heartbeat, report or another controller got there first.
          // A measurement lease: the candidate stays evaluated; another worker measures it. A
          // gang member: rank 0's lease decides its candidate (its next collective fails).
          if (l[0][0].as<bool>()) {
            expired.push_back(e);
            return false;
          }
          const SearchSpec spec = Parse<SearchSpec>(s[0]);
          // A lease live across the service's own outage and never heard from since may never have
          // reached its worker (the answer was lost with the controller): its attempt is given
          // back, as for a returned lease.
          const bool outage = l[0][1].as<bool>();
          pqxx::row c = tx.exec_params1(
              "UPDATE candidates SET attempts = attempts - $4, "
              "  state = CASE WHEN attempts - $4 >= $2 THEN 'FAILED' ELSE 'QUEUED' END, error = $3 "
              "WHERE id = $1 RETURNING state, rung",
              e.candidate_id, spec.budget().max_attempts(),
              absl::StrCat("lease ", e.lease_id, " expired without a report"), outage ? 1 : 0);
          e.requeued = c[0].as<std::string>() == "QUEUED";
          AppendEvent(
              tx, e.search_id, nas::v1::SEARCH_EVENT_KIND_LEASE_EXPIRED, e.candidate_id, "",
              absl::StrCat("lease ", e.lease_id, " expired",
                           outage ? " unheard since the service's outage (not charged)" : "",
                           "; candidate ", e.candidate_id,
                           e.requeued ? " re-queued" : " failed: out of attempts"));
          expired.push_back(e);
          NotifyChange(tx);
          if (!e.requeued) {
            FrontCache fronts;
            JudgeAwaitingDrops(tx, *profiles_, fronts, e.search_id, spec, e.candidate_id,
                               c[1].as<int>());
          }
          // A supernet epoch (rung -1) out of attempts ends the search at the next refill.
          return !e.requeued && c[1].as<int>() >= 0 &&
                 EndIfBudgetSpent(tx, e.search_id, CountFinal(tx, e.search_id, "FAILED"));
        });
    NAS_RETURN_IF_ERROR(ended.status());
  }
  return expired;
}

absl::StatusOr<bool> Store::ClaimDuty(const std::string& name, absl::Duration every,
                                      const std::string& claimer) {
  return pool_->Run("ClaimDuty", [&](pqxx::work& tx) -> absl::StatusOr<bool> {
    return !tx.exec_params(
                  "INSERT INTO duties (name, last_run_at, run_by) VALUES ($1, now(), $3) "
                  "ON CONFLICT (name) DO UPDATE SET last_run_at = now(), run_by = $3 "
                  "WHERE duties.last_run_at <= now() - $2 * interval '1 microsecond' "
                  "RETURNING 1",
                  name, absl::ToInt64Microseconds(every), claimer)
                .empty();
  });
}

absl::StatusOr<std::vector<int64_t>> Store::EndOverdueSearches() {
  return pool_->Run(
      "EndOverdueSearches", [&](pqxx::work& tx) -> absl::StatusOr<std::vector<int64_t>> {
        std::vector<int64_t> ended;
        for (const pqxx::row& r :
             tx.exec("SELECT id FROM searches WHERE state = 'RUNNING' AND deadline_at < now() "
                     "FOR NO KEY UPDATE SKIP LOCKED")) {
          EndSearch(tx, r[0].as<int64_t>(), engine::Overdue());
          ended.push_back(r[0].as<int64_t>());
        }
        return ended;
      });
}

}  // namespace nas
