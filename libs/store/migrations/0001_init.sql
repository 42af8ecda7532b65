-- Initial schema (design §4). Applied once by `apmcov-analyzer migrate` (or at analyzer start)
-- inside one transaction, recorded in schema_migrations. All writes to these tables are
-- idempotent upserts on the natural keys below, so a replay after a crash changes nothing.

CREATE TABLE services (
  name            text PRIMARY KEY,
  team            text NOT NULL DEFAULT '',
  application     text NOT NULL DEFAULT '',
  tier            text NOT NULL DEFAULT '',
  lifecycle       text NOT NULL DEFAULT '',
  type            text NOT NULL DEFAULT '',
  languages       text[] NOT NULL DEFAULT '{}',
  envs            text[] NOT NULL DEFAULT '{}',   -- env: tags of the catalog entry
  infra           text NOT NULL DEFAULT '',       -- from a catalog tag; '' when none
  customer_facing boolean NOT NULL DEFAULT false,
  tags            text[] NOT NULL DEFAULT '{}',
  links           jsonb NOT NULL DEFAULT '[]',
  schema_version  text NOT NULL DEFAULT '',
  description     text NOT NULL DEFAULT '',
  snapshot_id     text NOT NULL DEFAULT '',       -- last catalog snapshot that listed it
  first_seen      timestamptz NOT NULL DEFAULT now(),
  last_synced     timestamptz NOT NULL DEFAULT now(),
  removed_at      timestamptz                      -- set when a complete snapshot omits it
);
CREATE INDEX services_team_idx ON services (team);

-- One row per (service, env) seen by APM; env '*' is the APM service list's env-less view.
CREATE TABLE apm_services (
  service     text NOT NULL,
  env         text NOT NULL,
  first_seen  timestamptz NOT NULL DEFAULT now(),
  last_seen   timestamptz NOT NULL DEFAULT now(),
  span_count  bigint NOT NULL DEFAULT 0,
  languages   text[] NOT NULL DEFAULT '{}',
  infra_hints text[] NOT NULL DEFAULT '{}',   -- kubernetes / ecs / serverless / host, from spans
  traced      boolean NOT NULL DEFAULT false,
  usm_only    boolean NOT NULL DEFAULT false,
  PRIMARY KEY (service, env)
);

CREATE TABLE broken_traces (
  trace_id         numeric(20,0) PRIMARY KEY,    -- unsigned lower 64 bits
  trace_id_high    numeric(20,0) NOT NULL DEFAULT 0,
  env              text NOT NULL DEFAULT '',
  root_service     text,                         -- null when rootless
  started_at       timestamptz NOT NULL,
  duration_ns      bigint NOT NULL DEFAULT 0,
  span_count       integer NOT NULL DEFAULT 0,
  services         text[] NOT NULL DEFAULT '{}',
  missing_services text[] NOT NULL DEFAULT '{}',
  gap_kinds        text[] NOT NULL DEFAULT '{}',
  detected_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX broken_traces_started_idx ON broken_traces (started_at DESC, trace_id);
CREATE INDEX broken_traces_services_idx ON broken_traces USING gin (services);
CREATE INDEX broken_traces_missing_idx ON broken_traces USING gin (missing_services);

CREATE TABLE trace_gaps (
  trace_id     numeric(20,0) NOT NULL,
  span_id      numeric(20,0) NOT NULL,
  kind         text NOT NULL,   -- uninstrumented_hop, uninstrumented_callee, propagation_break,
                                -- missing_root, orphan_span
  from_service text NOT NULL DEFAULT '',
  to_service   text,
  peer         text NOT NULL DEFAULT '',
  detail       text NOT NULL DEFAULT '',
  PRIMARY KEY (trace_id, span_id, kind)
);

-- Spans of broken traces only, for the trace view.
CREATE TABLE trace_spans (
  trace_id    numeric(20,0) NOT NULL,
  span_id     numeric(20,0) NOT NULL,
  parent_id   numeric(20,0) NOT NULL DEFAULT 0,
  service     text NOT NULL DEFAULT '',
  resource    text NOT NULL DEFAULT '',
  kind        text NOT NULL DEFAULT '',
  type        text NOT NULL DEFAULT '',
  start_ns    bigint NOT NULL,
  duration_ns bigint NOT NULL DEFAULT 0,
  target      text NOT NULL DEFAULT '',
  PRIMARY KEY (trace_id, span_id)
);

CREATE TABLE dependencies (
  from_service text NOT NULL,
  to_name      text NOT NULL,
  kind         text NOT NULL,   -- call, db, messaging
  to_kind      text NOT NULL,   -- service, datastore, queue, external
  last_seen    timestamptz NOT NULL DEFAULT now(),
  count        bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (from_service, to_name, kind)
);

CREATE TABLE coverage_snapshots (
  taken_at     timestamptz NOT NULL,
  dimension    text NOT NULL,   -- overall, team, env, infra, language, tier, lifecycle
  key          text NOT NULL,
  total        integer NOT NULL,
  instrumented integer NOT NULL,
  PRIMARY KEY (taken_at, dimension, key)
);

CREATE TABLE sync_jobs (
  id              text PRIMARY KEY,
  trigger         text NOT NULL DEFAULT 'schedule',   -- schedule, manual
  state           text NOT NULL,                      -- queued, running, succeeded, partial, failed
  started_at      timestamptz,
  finished_at     timestamptz,
  api_calls       bigint NOT NULL DEFAULT 0,
  pages           bigint NOT NULL DEFAULT 0,
  spans           bigint NOT NULL DEFAULT 0,
  rate_limited_ms bigint NOT NULL DEFAULT 0,
  error           text NOT NULL DEFAULT '',
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_jobs_started_idx ON sync_jobs (started_at DESC NULLS LAST);

-- Catalog snapshots in progress: how many services of each snapshot have been stored, so the
-- analyzer marks removals only once it holds the whole snapshot (design §3).
CREATE TABLE catalog_snapshots (
  snapshot_id   text PRIMARY KEY,
  expected      integer,          -- from CatalogSnapshotEnd; null until it arrives
  received      integer NOT NULL DEFAULT 0,
  completed_at  timestamptz,
  synced_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE catalog_snapshot_members (
  snapshot_id text NOT NULL,
  name        text NOT NULL,
  PRIMARY KEY (snapshot_id, name)
);
