-- 001_init: the first Gosling schema.
--
-- Conventions: timestamps are INTEGER unix milliseconds (UTC), NULL when
-- unset; 0 stands for "no id" in id columns that are not foreign keys;
-- attributes, hardware rules and feedback details are JSON text.
-- AUTOINCREMENT keeps ids from being reused after a delete: action ids end up
-- in device URLs and software ids in devices' skip/installed columns.

CREATE TABLE tenants (
	name               TEXT PRIMARY KEY,
	gateway_token_hash TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE software (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant      TEXT    NOT NULL,
	name        TEXT    NOT NULL DEFAULT '',
	version     TEXT    NOT NULL,
	description TEXT    NOT NULL DEFAULT '',
	hardware    TEXT    NOT NULL DEFAULT '[]',
	filename    TEXT    NOT NULL DEFAULT '',
	size        INTEGER NOT NULL DEFAULT 0,
	sha1        TEXT    NOT NULL DEFAULT '',
	md5         TEXT    NOT NULL DEFAULT '',
	sha256      TEXT    NOT NULL DEFAULT '',
	url         TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL
);
CREATE INDEX software_tenant_version ON software (tenant, version);
CREATE INDEX software_sha256 ON software (sha256) WHERE sha256 <> '';

CREATE TABLE devices (
	tenant                TEXT    NOT NULL,
	id                    TEXT    NOT NULL,
	name                  TEXT    NOT NULL DEFAULT '',
	token_hash            TEXT    NOT NULL DEFAULT '',
	update_mode           TEXT    NOT NULL,
	software_id           INTEGER NOT NULL DEFAULT 0,
	feed                  TEXT    NOT NULL,
	attributes            TEXT    NOT NULL DEFAULT '{}',
	sw_version            TEXT    NOT NULL DEFAULT '',
	installed_software_id INTEGER NOT NULL DEFAULT 0,
	skip_software_id      INTEGER NOT NULL DEFAULT 0,
	action_id             INTEGER NOT NULL DEFAULT 0,
	last_action_id        INTEGER NOT NULL DEFAULT 0,
	status                TEXT    NOT NULL,
	config_requested      INTEGER NOT NULL,
	provisioned           INTEGER NOT NULL,
	created_at            INTEGER NOT NULL,
	last_seen             INTEGER,
	last_addr             TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (tenant, id)
);
CREATE INDEX devices_software ON devices (software_id) WHERE software_id <> 0;
CREATE INDEX devices_feed ON devices (tenant, feed);

CREATE TABLE rollouts (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant      TEXT    NOT NULL,
	name        TEXT    NOT NULL DEFAULT '',
	feed        TEXT    NOT NULL,
	software_id INTEGER NOT NULL REFERENCES software (id),
	status      TEXT    NOT NULL,
	created_at  INTEGER NOT NULL
);
CREATE INDEX rollouts_tenant ON rollouts (tenant, created_at);
CREATE INDEX rollouts_software ON rollouts (software_id);

-- actions.software_id and rollout_id are not foreign keys: closed actions
-- keep their history after the software or rollout is deleted.
-- prior_status is the device status before the action opened; a canceled
-- action gives it back.
CREATE TABLE actions (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	tenant        TEXT    NOT NULL,
	device_id     TEXT    NOT NULL,
	software_id   INTEGER NOT NULL,
	rollout_id    INTEGER NOT NULL DEFAULT 0,
	status        TEXT    NOT NULL,
	download_type TEXT    NOT NULL,
	update_type   TEXT    NOT NULL,
	progress_cnt  INTEGER NOT NULL DEFAULT 0,
	progress_of   INTEGER NOT NULL DEFAULT 0,
	prior_status  TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	closed_at     INTEGER,
	FOREIGN KEY (tenant, device_id) REFERENCES devices (tenant, id) ON DELETE CASCADE
);
CREATE INDEX actions_device ON actions (tenant, device_id, id);
CREATE INDEX actions_rollout ON actions (rollout_id) WHERE rollout_id <> 0;
CREATE INDEX actions_open_software ON actions (software_id) WHERE status IN ('pending', 'running', 'canceling');
-- At most one open action per device, whatever the code above does.
CREATE UNIQUE INDEX actions_open ON actions (tenant, device_id) WHERE status IN ('pending', 'running', 'canceling');

CREATE TABLE feedback (
	id           INTEGER PRIMARY KEY,
	action_id    INTEGER NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
	kind         TEXT    NOT NULL,
	execution    TEXT    NOT NULL,
	finished     TEXT    NOT NULL,
	code         INTEGER,
	progress_cnt INTEGER,
	progress_of  INTEGER,
	details      TEXT    NOT NULL DEFAULT '[]',
	device_time  TEXT    NOT NULL DEFAULT '',
	received_at  INTEGER NOT NULL
);
CREATE INDEX feedback_action ON feedback (action_id, id);
