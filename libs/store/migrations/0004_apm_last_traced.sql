-- apm_services.traced is an OR over every observation of (service, env), and last_seen the
-- latest observation of any kind: together they cannot say whether the service was *traced*
-- within APM_LOOKBACK_HOURS (a service that stopped tracing but is still seen through USM would
-- stay instrumented). last_traced is the latest time it was seen traced (or its spans were);
-- usm_seen whether USM ever saw it (usm_only stays: usm_seen AND NOT traced).
ALTER TABLE apm_services ADD COLUMN last_traced timestamptz;
ALTER TABLE apm_services ADD COLUMN usm_seen boolean NOT NULL DEFAULT false;
UPDATE apm_services SET last_traced = last_seen WHERE traced;
UPDATE apm_services SET usm_seen = usm_only;
