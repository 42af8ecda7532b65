-- Retention (design §4): the analyzer prunes in small batches by age (CoverageStore::Prune).
-- broken_traces (started_at), trace_judgements (hour), coverage_snapshots (taken_at) and
-- dependency_counted_traces (seen_at) already have an index that leads with the column the
-- batches select on, and dependencies is small (one row per edge; an index on last_seen would
-- cost every Apply more than it saves). These two tables had none.
CREATE INDEX sync_jobs_updated_idx ON sync_jobs (updated_at);
CREATE INDEX dead_letters_claimed_idx ON dead_letters (claimed_at);
