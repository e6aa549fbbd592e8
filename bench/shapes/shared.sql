-- Shape "shared": a global users table (150,000 users) referenced from the 1,000,000 comments
-- of one org (and 200,000 of others): the users section must be one pass, not users × comments.
CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE NOT NULL);
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE tasks (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, title text NOT NULL,
                    assignee_id bigint REFERENCES users);
CREATE TABLE comments (id bigint PRIMARY KEY, task_id bigint NOT NULL REFERENCES tasks,
                       author_id bigint NOT NULL REFERENCES users, body text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO orgs SELECT g, 'org' || g FROM generate_series(1, 100) g;
INSERT INTO users SELECT g, 'user' || g || '@example.test', 'User ' || md5(g::text), '2026-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 150000) g;
-- org 1: 20,000 tasks; orgs 2..100: 40 each
INSERT INTO tasks SELECT g, CASE WHEN g <= 20000 THEN 1 ELSE 2 + g % 99 END, 'Task ' || md5(g::text),
       CASE WHEN g % 3 = 0 THEN 1 + (g * 7919) % 150000 END
  FROM generate_series(1, 23960) g;
INSERT INTO comments SELECT g, CASE WHEN g <= 1000000 THEN 1 + g % 20000 ELSE 20001 + g % 3960 END,
       1 + (g::bigint * 104729) % 150000, 'Comment ' || md5(g::text) || ' ' || md5((g * 3)::text),
       '2026-01-01'::timestamptz + g * interval '1 second'
  FROM generate_series(1, 1200000) g;
CREATE INDEX ON tasks (org_id);
CREATE INDEX ON comments (task_id);
ANALYZE;
