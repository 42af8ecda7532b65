-- Sampling of span reads (design §7.1).
-- sync_jobs: span time read whole and skipped on purpose by each sync, and the traces the
-- analyzer left unjudged because a read interval's edge cut them.
ALTER TABLE sync_jobs
  ADD COLUMN sampled_seconds bigint NOT NULL DEFAULT 0,
  ADD COLUMN skipped_seconds bigint NOT NULL DEFAULT 0,
  ADD COLUMN edge_cut_traces bigint NOT NULL DEFAULT 0;

-- Judged traces per hour of their start and root service ('' when rootless): the denominator
-- of the broken-rate estimates (broken_traces holds the numerators).
CREATE TABLE trace_judgements (
  hour         timestamptz NOT NULL,
  root_service text NOT NULL,
  judged       bigint NOT NULL DEFAULT 0,
  broken       bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, root_service)
);

-- The read intervals still needed to judge the traces in flight of a partition, as
-- [from, to) pairs of Unix nanoseconds, restored with the watermark after a restart.
ALTER TABLE partition_watermarks ADD COLUMN read_intervals bigint[] NOT NULL DEFAULT '{}';
