-- "Instrument next" and the service map (ReadModel::RankRecommendations, LoadServiceMap) look
-- dependencies up by callee: the callers of each service without APM. The primary key leads
-- with from_service, so it cannot serve that; this index can. Like 0009's, it changes only when
-- an Apply inserts a new edge (the upsert never rewrites to_name or kind). Gaps are reached
-- through broken_traces (started_at index) and trace_gaps' primary key (trace_id first).
CREATE INDEX dependencies_to_name_idx ON dependencies (to_name, kind);
