-- trace_judgements and sync_jobs.edge_cut_traces are added to, not upserted. The analyzer
-- retries a batch whose commit failed, and a commit can fail after the server committed it
-- (the connection lost while waiting for the answer): the retry added the batch's counts a
-- second time. A batch now carries a key, recorded here in the transaction that adds its
-- counts; a batch whose key is already here adds nothing. Pruned with the replay guard.
CREATE TABLE counted_batches (
  batch_key  text        PRIMARY KEY,
  counted_at timestamptz NOT NULL
);
-- Rows arrive in counted_at order; pruning needs only a coarse range index.
CREATE INDEX counted_batches_counted_at_idx ON counted_batches USING brin (counted_at);
