-- The replay guard of dependencies.count (distinct traces per edge) keyed each (edge, trace)
-- pair by three text columns and a numeric: at high span rates inserting into that index cost
-- more than everything else the analyzer writes (PostgreSQL at ~95% of a core for 34k spans/s
-- in bench_e2e). Same guard, keyed by two bigints: the lower 64 bits of the trace id (as
-- signed) and a 64-bit FNV-1a hash of (from_service, to_name, kind). The old keys are not
-- carried over (they cannot be hashed in SQL): only a replay of batches applied before the
-- upgrade could count a trace twice.
CREATE TABLE dependency_trace_keys (
  trace_id bigint      NOT NULL,
  edge     bigint      NOT NULL,
  seen_at  timestamptz NOT NULL,
  PRIMARY KEY (trace_id, edge)
);
-- Rows arrive roughly in seen_at order; pruning needs only a coarse range index.
CREATE INDEX dependency_trace_keys_seen_idx ON dependency_trace_keys USING brin (seen_at);
DROP TABLE dependency_traces;
