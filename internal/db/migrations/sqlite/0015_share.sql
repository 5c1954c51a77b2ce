-- data sharing (issue #8 part 1): API keys of consuming departments and
-- portals, their short-lived bearer tokens and their change-feed
-- subscriptions. Secrets and tokens are kept only as keyed hashes. The feed
-- itself is entitlement_changes (casework); a subscription keeps its cursor.
CREATE TABLE share_clients (
    id              INTEGER PRIMARY KEY,
    client_id       TEXT NOT NULL UNIQUE,
    secret_hash     TEXT NOT NULL,
    name            TEXT NOT NULL,
    department      TEXT NOT NULL,
    region_code     TEXT NOT NULL REFERENCES regions(code),
    scopes          TEXT NOT NULL,
    rate_per_minute INTEGER NOT NULL,
    public_key      TEXT NOT NULL DEFAULT '',
    callback_url    TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'active',
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    revoked_by      TEXT NOT NULL DEFAULT '',
    revoked_at      TIMESTAMP,
    revoke_reason   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX share_clients_region ON share_clients(region_code);

CREATE TABLE share_tokens (
    token_hash  TEXT PRIMARY KEY,
    client_id   BIGINT NOT NULL REFERENCES share_clients(id),
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX share_tokens_client ON share_tokens(client_id, expires_at);

CREATE TABLE share_subscriptions (
    id              INTEGER PRIMARY KEY,
    client_id       BIGINT NOT NULL REFERENCES share_clients(id),
    callback_url    TEXT NOT NULL,
    programme       TEXT NOT NULL DEFAULT '',
    feed_cursor     BIGINT NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'active',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered       BIGINT NOT NULL DEFAULT 0,
    last_delivered_at TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    cancelled_at    TIMESTAMP
);
CREATE INDEX share_subscriptions_client ON share_subscriptions(client_id);
CREATE INDEX share_subscriptions_due ON share_subscriptions(status, next_attempt_at);
