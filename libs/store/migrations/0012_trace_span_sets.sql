-- trace_spans held one row per span of a broken trace, keyed by two numerics: under load that
-- was PostgreSQL's largest write (bench_e2e at 100k spans/s, pg_stat_statements: 34 s of the
-- 70 s its statements ran, 3.4M rows). The trace view always reads a trace's spans together,
-- so they are now one row per trace: its spans as a JSON array of positional arrays
--   [span_id, parent_id, service, resource, kind, type, start_ns, duration_ns, target]
-- ids as decimal strings (64-bit unsigned), times as numbers. `json`, not `jsonb`: stored as
-- written, only checked, and never searched inside. A trace's spans stay inline up to ~8 kB
-- (toast_tuple_target) rather than being compressed from 2 kB on.
ALTER TABLE trace_spans RENAME TO trace_spans_0001;
ALTER INDEX trace_spans_pkey RENAME TO trace_spans_0001_pkey;
CREATE TABLE trace_spans (
  trace_id numeric(20,0) PRIMARY KEY,
  spans    json NOT NULL
) WITH (toast_tuple_target = 8160);
INSERT INTO trace_spans (trace_id, spans)
SELECT trace_id,
       json_agg(json_build_array(span_id::text, parent_id::text, service, resource, kind, type,
                                 start_ns, duration_ns, target) ORDER BY start_ns, span_id)
FROM trace_spans_0001 GROUP BY trace_id;
DROP TABLE trace_spans_0001;
