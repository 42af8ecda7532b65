-- The replay guard of dependencies.count kept one row per (edge, trace), keyed by three text
-- columns and a numeric: in bench_e2e that was ~8 rows per trace and PostgreSQL spent most of
-- its time inserting them (~95% of a core at 34k spans/s). A trace's edges are counted when
-- the trace is judged, so one row per trace guards them all: the lower 64 bits of the trace id
-- (as a signed bigint). The old rows are not carried over: only a replay of batches applied
-- before the upgrade could count a trace twice.
CREATE TABLE dependency_counted_traces (
  trace_id bigint      PRIMARY KEY,
  seen_at  timestamptz NOT NULL
);
-- Rows arrive roughly in seen_at order; pruning needs only a coarse range index.
CREATE INDEX dependency_counted_traces_seen_idx ON dependency_counted_traces USING brin (seen_at);
DROP TABLE dependency_traces;
