-- Benchmark schema: one root, one tenant table, one child table; the types of a real SaaS
-- (text ~200 chars, jsonb, numeric, timestamptz, uuid).
CREATE TABLE orgs (id bigint PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
CREATE TABLE events (
    id         bigint PRIMARY KEY,
    org_id     bigint NOT NULL REFERENCES orgs,
    uid        uuid NOT NULL,
    kind       text NOT NULL,
    body       text NOT NULL,
    payload    jsonb NOT NULL,
    amount     numeric(14, 4),
    created_at timestamptz NOT NULL
);
CREATE TABLE event_notes (
    id         bigint PRIMARY KEY,
    event_id   bigint NOT NULL REFERENCES events,
    author     text NOT NULL,
    note       text NOT NULL,
    created_at timestamptz NOT NULL
);
