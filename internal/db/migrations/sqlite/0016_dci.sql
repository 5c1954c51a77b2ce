-- DCI Social Registry endpoints (package dci). Nothing personal is stored
-- here: transactions keep counts and statuses, subscriptions keep their
-- whitelisted filter and a cursor on the share change feed.

-- message ids seen per sender, so a replayed envelope is refused
CREATE TABLE dci_messages (
    sender_id   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (sender_id, message_id)
);
CREATE INDEX dci_messages_received ON dci_messages(received_at);

-- one row per accepted request envelope (search, subscribe, unsubscribe, txn status)
CREATE TABLE dci_transactions (
    id              INTEGER PRIMARY KEY,
    sender_id       TEXT NOT NULL,
    transaction_id  TEXT NOT NULL,
    correlation_id  TEXT NOT NULL UNIQUE,
    action          TEXT NOT NULL,
    mode            TEXT NOT NULL,
    status          TEXT NOT NULL,
    requests        INTEGER NOT NULL,
    records         BIGINT NOT NULL DEFAULT 0,
    callback        TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX dci_transactions_sender ON dci_transactions(sender_id, transaction_id);

-- the outcome of each request of a batch, by the sender's reference_id
CREATE TABLE dci_txn_requests (
    id           INTEGER PRIMARY KEY,
    txn_id       BIGINT NOT NULL REFERENCES dci_transactions(id),
    reference_id TEXT NOT NULL,
    status       TEXT NOT NULL,
    reason_code  TEXT NOT NULL DEFAULT '',
    page_size    INTEGER NOT NULL DEFAULT 0,
    page_number  INTEGER NOT NULL DEFAULT 0,
    total_count  BIGINT NOT NULL DEFAULT 0,
    records      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX dci_txn_requests_txn ON dci_txn_requests(txn_id, id);

CREATE TABLE dci_subscriptions (
    id                 INTEGER PRIMARY KEY,
    code               TEXT NOT NULL UNIQUE,
    sender_id          TEXT NOT NULL,
    txn_id             BIGINT NOT NULL REFERENCES dci_transactions(id),
    reference_id       TEXT NOT NULL,
    sender_uri         TEXT NOT NULL,
    events             TEXT NOT NULL,
    filter             TEXT NOT NULL,
    notify_record_type TEXT NOT NULL,
    region_prefix      TEXT NOT NULL,
    cursor_seq         BIGINT NOT NULL,
    status             TEXT NOT NULL,
    notified           BIGINT NOT NULL DEFAULT 0,
    created_at         TIMESTAMP NOT NULL,
    ended_at           TIMESTAMP
);
CREATE INDEX dci_subscriptions_sender ON dci_subscriptions(sender_id, status);
