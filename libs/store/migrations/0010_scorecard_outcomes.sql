-- Datadog Scorecards (design §13): the last outcome sent for each (rule, service), so that a
-- snapshot sends only what changed and a restart does not resend everything.
CREATE TABLE scorecard_outcomes (
  rule     text NOT NULL,         -- the rule's name ("APM instrumented", "Traces unbroken")
  service  text NOT NULL,
  state    text NOT NULL CHECK (state IN ('pass', 'fail', 'skip')),
  remarks  text NOT NULL DEFAULT '',
  sent_at  timestamptz NOT NULL,
  PRIMARY KEY (rule, service)
);
