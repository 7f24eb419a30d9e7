#include "services/store/migrations.h"

namespace nas {

const std::vector<Migration>& Migrations() {
  static const auto* const kMigrations = new std::vector<Migration>{
      {1, "users, tokens, profiles, searches, candidates, leases, results, artifacts, events",
       R"sql(
CREATE FUNCTION rfc3339(t TIMESTAMPTZ) RETURNS TEXT LANGUAGE SQL IMMUTABLE AS
  $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

CREATE TABLE users (
  id          BIGSERIAL PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  admin       BOOLEAN NOT NULL DEFAULT false,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a token is kept; the secret is shown once.
CREATE TABLE tokens (
  id            BIGSERIAL PRIMARY KEY,
  user_id       BIGINT NOT NULL REFERENCES users(id),
  token_sha256  TEXT NOT NULL UNIQUE,
  label         TEXT NOT NULL DEFAULT '',
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  revoked_at    TIMESTAMPTZ
);
CREATE INDEX tokens_user ON tokens (user_id);

-- A profile version is immutable; registering a name again adds a version.
-- owner_id NULL marks the built-in profiles.
CREATE TABLE hardware_profiles (
  id          BIGSERIAL PRIMARY KEY,
  name        TEXT NOT NULL,
  version     INT NOT NULL,
  owner_id    BIGINT REFERENCES users(id),
  public      BOOLEAN NOT NULL,
  spec        BYTEA NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (name, version)
);

CREATE TABLE searches (
  id            BIGSERIAL PRIMARY KEY,
  owner_id      BIGINT NOT NULL REFERENCES users(id),
  display_name  TEXT NOT NULL,
  spec          BYTEA NOT NULL,
  state         TEXT NOT NULL,
  message       TEXT NOT NULL DEFAULT '',
  target        INT NOT NULL,
  deadline_at   TIMESTAMPTZ,
  -- Candidates in final states, kept in step in the same transactions that move them there
  -- (which lock this row anyway), so budget checks never count a search's candidates.
  -- Queued and leased ones are few and counted through candidates_search_state.
  n_evaluated   INT NOT NULL DEFAULT 0,
  n_failed      INT NOT NULL DEFAULT 0,
  n_cancelled   INT NOT NULL DEFAULT 0,
  best_accuracy DOUBLE PRECISION NOT NULL DEFAULT 0,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX searches_owner ON searches (owner_id, id DESC);
CREATE INDEX searches_running ON searches (id) WHERE state = 'RUNNING';

-- The profiles a search targets, in the order the user named them.
CREATE TABLE search_profiles (
  search_id   BIGINT NOT NULL REFERENCES searches(id),
  position    INT NOT NULL,
  profile_id  BIGINT NOT NULL REFERENCES hardware_profiles(id),
  PRIMARY KEY (search_id, position)
);

CREATE TABLE candidates (
  id            BIGSERIAL PRIMARY KEY,
  search_id     BIGINT NOT NULL REFERENCES searches(id),
  arch          BYTEA NOT NULL,
  arch_hash     TEXT NOT NULL,
  rung          INT NOT NULL DEFAULT 0,
  fidelity      BYTEA NOT NULL,
  state         TEXT NOT NULL,
  attempts      INT NOT NULL DEFAULT 0,
  error         TEXT NOT NULL DEFAULT '',
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  evaluated_at  TIMESTAMPTZ,
  UNIQUE (search_id, arch_hash, rung)
);
CREATE INDEX candidates_search_state ON candidates (search_id, state);
CREATE INDEX candidates_queued ON candidates (id) WHERE state = 'QUEUED';

CREATE TABLE workers (
  id             BIGSERIAL PRIMARY KEY,
  name           TEXT NOT NULL,
  device_tag     TEXT NOT NULL,
  cpu_model      TEXT NOT NULL,
  threads        INT NOT NULL,
  measure_only   BOOLEAN NOT NULL,
  registered_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_seen_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- state: ACTIVE, COMPLETED, EXPIRED, RETURNED, REVOKED. Only an ACTIVE, unexpired lease may
-- report (fencing).
CREATE TABLE leases (
  id            BIGSERIAL PRIMARY KEY,
  candidate_id  BIGINT NOT NULL REFERENCES candidates(id),
  search_id     BIGINT NOT NULL REFERENCES searches(id),
  worker_id     BIGINT NOT NULL REFERENCES workers(id),
  state         TEXT NOT NULL,
  granted_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at    TIMESTAMPTZ NOT NULL,
  ended_at      TIMESTAMPTZ
);
CREATE INDEX leases_candidate ON leases (candidate_id);
CREATE INDEX leases_search ON leases (search_id);
CREATE INDEX leases_active_expiry ON leases (expires_at) WHERE state = 'ACTIVE';

CREATE TABLE evaluations (
  id            BIGSERIAL PRIMARY KEY,
  candidate_id  BIGINT NOT NULL UNIQUE REFERENCES candidates(id),
  search_id     BIGINT NOT NULL REFERENCES searches(id),
  lease_id      BIGINT NOT NULL UNIQUE REFERENCES leases(id),
  metrics       BYTEA NOT NULL,
  val_accuracy  DOUBLE PRECISION NOT NULL,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX evaluations_search ON evaluations (search_id, id);

CREATE TABLE profile_metrics (
  candidate_id  BIGINT NOT NULL REFERENCES candidates(id),
  profile_id    BIGINT NOT NULL REFERENCES hardware_profiles(id),
  search_id     BIGINT NOT NULL REFERENCES searches(id),
  metrics       BYTEA NOT NULL,
  feasible      BOOLEAN NOT NULL,
  PRIMARY KEY (candidate_id, profile_id)
);
CREATE INDEX profile_metrics_search ON profile_metrics (search_id, profile_id);

-- objectives: the member's objective vector in minimisation form, in the search's objective
-- order. Kept here so that updating a front reads only the front (measured: joining the
-- members to evaluations made every result scan all of a search's evaluations).
CREATE TABLE pareto_members (
  search_id     BIGINT NOT NULL REFERENCES searches(id),
  profile_id    BIGINT NOT NULL REFERENCES hardware_profiles(id),
  candidate_id  BIGINT NOT NULL REFERENCES candidates(id),
  objectives    DOUBLE PRECISION[] NOT NULL,
  PRIMARY KEY (search_id, profile_id, candidate_id)
);

-- Uploaded under a live lease; fetchable once its candidate is EVALUATED.
CREATE TABLE artifacts (
  candidate_id  BIGINT PRIMARY KEY REFERENCES candidates(id),
  search_id     BIGINT NOT NULL REFERENCES searches(id),
  lease_id      BIGINT NOT NULL REFERENCES leases(id),
  sha256        TEXT NOT NULL,
  size_bytes    BIGINT NOT NULL,
  format        TEXT NOT NULL,
  metadata      BYTEA NOT NULL,
  data          BYTEA NOT NULL,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX artifacts_search ON artifacts (search_id);

-- generation counts saves, so a controller can tell its cached strategy is stale.
CREATE TABLE strategy_state (
  search_id         BIGINT PRIMARY KEY REFERENCES searches(id),
  state             BYTEA NOT NULL,
  observed_through  BIGINT NOT NULL DEFAULT 0,
  generation        BIGINT NOT NULL DEFAULT 0,
  -- Refills in a row that queued nothing new with nothing outstanding: the space is exhausted.
  dry_refills       INT NOT NULL DEFAULT 0,
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE events (
  id            BIGSERIAL PRIMARY KEY,
  search_id     BIGINT NOT NULL REFERENCES searches(id),
  kind          INT NOT NULL,
  candidate_id  BIGINT,
  profile_id    TEXT NOT NULL DEFAULT '',
  message       TEXT NOT NULL,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_search ON events (search_id, id);
)sql"},
      {2, "datasets: which dataset a search trains on, which datasets a worker serves",
       R"sql(
-- Before this migration every search and every worker was on Fashion-MNIST.
ALTER TABLE searches ADD COLUMN dataset TEXT NOT NULL DEFAULT 'fashion-mnist';
ALTER TABLE workers ADD COLUMN datasets TEXT[] NOT NULL DEFAULT '{fashion-mnist}';
)sql"},
      {3, "multi-fidelity: evaluated candidates per successive-halving rung",
       R"sql(
-- One counter per rung, lowest first, kept in step by the report that evaluates a candidate
-- (which locks the search row anyway); empty for a single-fidelity search.
ALTER TABLE searches ADD COLUMN evaluated_per_rung INT[] NOT NULL DEFAULT '{}';
-- Promotions read a rung's results.
CREATE INDEX candidates_search_rung ON candidates (search_id, rung) WHERE rung > 0;
)sql"},
      {4, "events: the hypervolume of a front after it changed",
       R"sql(
-- Set on FRONT_CHANGED events, so a watcher follows each profile's hypervolume from the
-- stream alone; NULL on every other kind and on events stored before this migration.
ALTER TABLE events ADD COLUMN hypervolume DOUBLE PRECISION;
)sql"},
      {5, "measure-only workers: latency measured on another device than training",
       R"sql(
-- A finished candidate's latency on a measured profile whose device did not train it: the
-- device tag of the (measure-only) workers that must time it, until one has; NULL otherwise.
ALTER TABLE profile_metrics ADD COLUMN measure_device TEXT;
CREATE INDEX profile_metrics_to_measure ON profile_metrics (measure_device, candidate_id)
  WHERE measure_device IS NOT NULL;
-- A measurement lease names the profile it measures; NULL on training leases.
ALTER TABLE leases ADD COLUMN profile_id BIGINT REFERENCES hardware_profiles(id);
)sql"},
      {6, "weight sharing: supernet checkpoints fetched by their digest",
       R"sql(
-- A weight-sharing search's supernet epochs are candidates at rung -1 whose artifact is the
-- checkpoint after that epoch; workers fetch a checkpoint by its SHA-256.
CREATE INDEX artifacts_sha256 ON artifacts (sha256);
)sql"},
      {7, "weight sharing: data-parallel supernet epochs",
       R"sql(
-- A data-parallel supernet epoch is one candidate trained by a gang of workers. Rank 0 holds
-- the candidate's own lease; once it has published the address of the c10d store it serves
-- (rendezvous) and the gang's size, LeaseNext grants ranks 1 to gang_size - 1 member leases
-- on the same candidate, each naming rank 0's lease. A member lease ends (report, expiry,
-- return) without touching its candidate: rank 0's lease alone decides the epoch.
ALTER TABLE leases ADD COLUMN rendezvous TEXT;
ALTER TABLE leases ADD COLUMN gang_size INT;
ALTER TABLE leases ADD COLUMN gang_lease_id BIGINT REFERENCES leases(id);
ALTER TABLE leases ADD COLUMN gang_rank INT;
CREATE INDEX leases_gang ON leases (gang_lease_id) WHERE gang_lease_id IS NOT NULL;
)sql"},
      {8, "failures belong to a candidate and a worker; quarantined workers; outage grace",
       R"sql(
-- A completed lease whose worker reported a failure. The candidate is not leased to that
-- worker again while another can take it, and a worker whose failures keep succeeding on other
-- workers is quarantined: it gets no work until quarantined_until.
ALTER TABLE leases ADD COLUMN failed BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX leases_worker ON leases (worker_id, id);
ALTER TABLE workers ADD COLUMN quarantined_until TIMESTAMPTZ;
ALTER TABLE workers ADD COLUMN quarantine_reason TEXT;
-- When the lease was granted or last heartbeated. outage_grace is set on the live leases a
-- controller extended after the service's own outage that were not heard from since it began,
-- and cleared by the next heartbeat: such a lease that expires unheard is not charged to its
-- candidate (its worker may never have received it).
ALTER TABLE leases ADD COLUMN last_heard_at TIMESTAMPTZ NOT NULL DEFAULT now();
ALTER TABLE leases ADD COLUMN outage_grace BOOLEAN NOT NULL DEFAULT false;
-- Profile names are unique per owner (the public profiles share one namespace): another
-- user's private profile neither blocks a name nor is revealed by trying it.
ALTER TABLE hardware_profiles DROP CONSTRAINT hardware_profiles_name_version_key;
CREATE UNIQUE INDEX hardware_profiles_owner_name_version
  ON hardware_profiles (COALESCE(owner_id, 0), public, name, version);
)sql"},
      {9, "every lease names its kind of work",
       R"sql(
-- What a lease asks of its worker (trainer_service.proto WorkKind), written when it is granted,
-- so that a report is stored by its kind's branch rather than read from rung, profile_id and
-- gang_rank. Leases granted before this migration get the kind their columns imply (a subnet
-- estimate then reads as TRAIN: the two are stored alike).
ALTER TABLE leases ADD COLUMN kind TEXT;
UPDATE leases l SET kind = CASE
    WHEN l.profile_id IS NOT NULL THEN 'MEASURE'
    WHEN l.gang_rank IS NOT NULL THEN 'GANG_MEMBER'
    WHEN (SELECT rung FROM candidates c WHERE c.id = l.candidate_id) < 0 THEN 'SUPERNET_EPOCH'
    ELSE 'TRAIN' END;
ALTER TABLE leases ALTER COLUMN kind SET NOT NULL;
ALTER TABLE leases ADD CONSTRAINT leases_kind
  CHECK (kind IN ('TRAIN', 'ESTIMATE', 'MEASURE', 'SUPERNET_EPOCH', 'GANG_MEMBER'));
)sql"},
      {10, "a finished model is stored in several formats",
       R"sql(
-- TorchScript, ONNX fp32 and ONNX int8 QDQ of one candidate: one row each. Rows stored before
-- this migration are TorchScript files or supernet checkpoints, one per candidate, and keep
-- their format.
ALTER TABLE artifacts DROP CONSTRAINT artifacts_pkey;
ALTER TABLE artifacts ADD PRIMARY KEY (candidate_id, format);
)sql"},
      {11, "the sizes of the datasets workers serve",
       R"sql(
-- Reported by each worker as it registers (the latest report wins), so that a search whose
-- validation split the dataset cannot hold is refused at submit.
CREATE TABLE dataset_sizes (
  name           TEXT PRIMARY KEY,
  train_examples BIGINT NOT NULL CHECK (train_examples >= 0),
  test_examples  BIGINT NOT NULL CHECK (test_examples >= 0),
  reported_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
)sql"},
      {12, "final training: a search's finalists",
       R"sql(
-- A finalist (SearchSpec.final_training) is a candidate trained again, from scratch, with the
-- final recipe once the search phase ends; it sits one rung above the search's final rung.
-- search_phase_end keeps why the search phase ended, for the message when the search ends.
ALTER TABLE candidates ADD COLUMN final_training BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX candidates_final_training ON candidates (search_id) WHERE final_training;
ALTER TABLE searches ADD COLUMN search_phase_end TEXT;
)sql"},
      {13, "a reference network's training reused across searches",
       R"sql(
-- A reference network trained before (same owner, dataset, network and recipe) is not trained
-- again: its evaluation and files are copied under no lease, naming the candidate that trained
-- it (the first, when that one was itself a copy).
ALTER TABLE evaluations ALTER COLUMN lease_id DROP NOT NULL;
ALTER TABLE evaluations ADD COLUMN reused_from BIGINT REFERENCES candidates(id);
ALTER TABLE artifacts ALTER COLUMN lease_id DROP NOT NULL;
)sql"},
      {14, "events in the order their transactions became final",
       R"sql(
-- An event's id comes from a sequence when its row is inserted, but transactions commit in
-- another order: a watcher that had read event 101 skipped event 100 when 100's transaction
-- (a lease granted, a heartbeat) committed after 101's. Watchers now read by seq, given by
-- SequenceEvents() only to events whose transaction is older than every transaction still
-- running (its xid below the snapshot's xmin): whatever commits later gets a larger seq. Several
-- controllers may insert; one at a time sequences (an advisory lock).
ALTER TABLE events ADD COLUMN seq BIGINT;
UPDATE events SET seq = id;
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE UNIQUE INDEX events_seq ON events (seq);
CREATE INDEX events_search_seq ON events (search_id, seq);
CREATE INDEX events_unsequenced ON events (xid, id) WHERE seq IS NULL;
)sql"},
      {15, "waiting gangs without a scan of the active leases; a search's new candidates by id",
       R"sql(
-- Every lease looks for a data-parallel gang waiting for its ranks. Through the active-leases
-- expiry index that read thousands of entries per lease (finished leases stay in an index until
-- vacuum); only a gang's rank 0 ever has a rendezvous, so this index holds a handful.
CREATE INDEX leases_waiting_gangs ON leases (id)
  WHERE state = 'ACTIVE' AND rendezvous IS NOT NULL;
-- Watchers read events by (search_id, seq) since migration 14.
DROP INDEX events_search;
-- A refill reads only the candidates stored since the last one (what the strategy is told the
-- search holds; no longer saved in its state).
CREATE INDEX candidates_search_id ON candidates (search_id, id);
)sql"},
      {16, "periodic duties claimed by one controller at a time",
       R"sql(
-- Several controllers share the periodic duties (the lease sweep, the refill of every running
-- search): each round, the first to claim a duty does it, the others skip it. A controller that
-- dies mid-duty leaves only whole transactions behind; the next round's claimer carries on.
CREATE TABLE duties (
  name        TEXT PRIMARY KEY,
  last_run_at TIMESTAMPTZ NOT NULL,
  run_by      TEXT NOT NULL
);
)sql"},
      {17, "warnings a search was accepted with",
       R"sql(
-- What may go wrong with a search as submitted (a recipe too short to learn, no worker yet),
-- said at submission and shown with the search ever after.
ALTER TABLE searches ADD COLUMN warnings TEXT[] NOT NULL DEFAULT '{}';
)sql"},
      {18, "the precision a worker trains recipes of precision auto in",
       R"sql(
-- "bf16" on a CPU with bf16 instructions, "fp32" elsewhere; '' from workers before it.
ALTER TABLE workers ADD COLUMN auto_precision TEXT NOT NULL DEFAULT '';
)sql"},
  };
  return *kMigrations;
}

}  // namespace nas
