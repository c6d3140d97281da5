-- 002_rollouts: device tags and poll overrides, staged rollouts (target,
-- waves, rules, maintenance window), rollout events, tenant poll settings.
--
-- JSON columns: devices.tags is a sorted array of unique, non-empty strings
-- (the store normalises it, so json_each needs no DISTINCT); rollouts.target
-- and maintenance_window are NULL when unset; rollouts.waves is never empty.
-- Durations are INTEGER milliseconds, 0 for none.

ALTER TABLE devices ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE devices ADD COLUMN poll_interval INTEGER NOT NULL DEFAULT 0;

ALTER TABLE actions ADD COLUMN wave INTEGER NOT NULL DEFAULT 0;

-- status: draft | running | paused | finished | aborted (001 had running
-- and paused only; the column has no CHECK, so existing rows stay valid).
ALTER TABLE rollouts ADD COLUMN target TEXT;
ALTER TABLE rollouts ADD COLUMN waves TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rollouts ADD COLUMN current_wave INTEGER NOT NULL DEFAULT -1;
ALTER TABLE rollouts ADD COLUMN awaiting_approval INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN start_at INTEGER;
ALTER TABLE rollouts ADD COLUMN max_concurrent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN download_type TEXT NOT NULL DEFAULT 'forced';
ALTER TABLE rollouts ADD COLUMN update_type TEXT NOT NULL DEFAULT 'forced';
ALTER TABLE rollouts ADD COLUMN maintenance_window TEXT;
ALTER TABLE rollouts ADD COLUMN reason TEXT NOT NULL DEFAULT '';
-- updated_at is the optimistic-concurrency token of UpdateRollout.
ALTER TABLE rollouts ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;

-- Rollouts of 001 offered their software to the whole feed at once: they
-- become one 100 % wave, open since they were created, so they go on
-- offering exactly what they offered before.
UPDATE rollouts SET
	updated_at   = created_at,
	current_wave = 0,
	waves        = json_array(json_object(
		'percent', 100,
		'threshold', 4294967295,
		'opened_at', strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000, 'unixepoch')
			|| printf('.%03dZ', created_at % 1000)));

CREATE TABLE rollout_events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant     TEXT    NOT NULL,
	rollout_id INTEGER NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
	type       TEXT    NOT NULL,
	wave       INTEGER NOT NULL DEFAULT 0,
	message    TEXT    NOT NULL DEFAULT '',
	at         INTEGER NOT NULL
);
CREATE INDEX rollout_events_rollout ON rollout_events (rollout_id, id);

ALTER TABLE tenants ADD COLUMN poll_settings TEXT NOT NULL DEFAULT '{}';

-- RolloutActionCounts: the newest action per (rollout, device) is
-- max(id) of a (rollout_id, device_id) group, read from this index alone.
-- It replaces 001's actions_rollout (rollout_id), its prefix.
DROP INDEX actions_rollout;
CREATE INDEX actions_rollout_device ON actions (rollout_id, device_id, id) WHERE rollout_id <> 0;
-- MaxConcurrent (counted in CreateAction's write transaction) and
-- CancelRolloutActions read a rollout's open actions only. Queries must
-- repeat the status list verbatim for SQLite to use this partial index.
CREATE INDEX actions_rollout_open ON actions (rollout_id) WHERE status IN ('pending', 'running', 'canceling');
