-- The highest span watermark the analyzer has applied per partition of `spans`, written in the
-- same transaction as the effects of the traces it finalised. After a restart or rebalance the
-- new owner restores it, so a replayed trace that was already judged (and may now be read only
-- in part) is not judged again (TraceAssembler::SetAppliedWatermark).
CREATE TABLE partition_watermarks (
  topic        text NOT NULL,
  partition    integer NOT NULL,
  watermark_ns bigint NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, partition)
);
