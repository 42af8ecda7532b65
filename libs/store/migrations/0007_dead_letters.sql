-- One row per message a consumer set aside (design §3 `dlq`), keyed by where the message is, so
-- a replay after a crash does not publish its dead letter a second time. published_at stays
-- NULL between the claim (before producing) and the producer's flush: such a row is handed out
-- again, so a crash in between costs at most a duplicate, never a lost dead letter.
CREATE TABLE dead_letters (
  topic        text        NOT NULL,
  partition    integer     NOT NULL,
  "offset"     bigint      NOT NULL,
  error        text        NOT NULL DEFAULT '',
  claimed_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  PRIMARY KEY (topic, partition, "offset")
);
