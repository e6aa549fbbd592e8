-- Loads the benchmark data. Variables: big_events, big_notes, small_orgs (orgs of ~50 rows),
-- only_small (1 = just the ~1,000-row org "small", for the database of its own). Org
-- "medium" (200,000 rows) shows that memory does not grow with the org.
\set lorem '''Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.'''
BEGIN;
INSERT INTO orgs VALUES (1, 'big', 'Big Corp'), (2, 'small', 'Small Shop');
INSERT INTO orgs SELECT 3, 'medium', 'Medium Inc' WHERE :only_small = 0;
INSERT INTO orgs SELECT 3 + i, 'org' || i, 'Org ' || i FROM generate_series(1, :small_orgs) i WHERE :only_small = 0;

-- events: the big org's first (ids 1..), then the small org's 600, then ~50 per other org
INSERT INTO events
SELECT i, 1, md5(i::text)::uuid, (ARRAY['click','view','purchase','signup'])[1 + i % 4],
       substr(:lorem, 1 + i % 150, 120) || ' ' || md5(i::text) || md5((i * 7)::text),
       jsonb_build_object('ip', '10.' || (i % 250) || '.' || (i % 199) || '.7', 'ua', 'Mozilla/5.0 ' || (i % 97),
                          'tags', jsonb_build_array('t' || (i % 13), 't' || (i % 7)), 'score', (i % 1000) / 10.0),
       (i % 100000) / 100.0 + 0.0001, timestamptz '2026-01-01' + i * interval '7 seconds'
FROM generate_series(1, :big_events) i WHERE :only_small = 0;
INSERT INTO events
SELECT 100000000 + i, 2, md5('s' || i)::uuid, 'view', substr(:lorem, 1 + i % 150, 120) || ' ' || md5(i::text),
       jsonb_build_object('ip', '10.0.0.' || (i % 250), 'n', i), i / 3.0, timestamptz '2026-02-01' + i * interval '1 minute'
FROM generate_series(1, 600) i;
INSERT INTO events
SELECT 200000000 + i, 4 + i % :small_orgs, md5('o' || i)::uuid, 'click', substr(:lorem, 1 + i % 150, 120),
       jsonb_build_object('n', i), i / 7.0, timestamptz '2026-03-01' + i * interval '1 second'
FROM generate_series(1, :small_orgs * 50) i WHERE :only_small = 0;
INSERT INTO events
SELECT 300000000 + i, 3, md5('m' || i)::uuid, 'purchase', substr(:lorem, 1 + i % 150, 120) || ' ' || md5(i::text),
       jsonb_build_object('n', i, 'tags', jsonb_build_array('m')), i / 9.0, timestamptz '2026-04-01' + i * interval '3 seconds'
FROM generate_series(1, 200000) i WHERE :only_small = 0;

INSERT INTO event_notes
SELECT i, 1 + (i * 3) % :big_events, 'user' || (i % 5000) || '@example.com',
       substr(:lorem, 1 + i % 170, 100) || ' ' || md5((i * 13)::text), timestamptz '2026-01-02' + i * interval '9 seconds'
FROM generate_series(1, :big_notes) i WHERE :only_small = 0;
INSERT INTO event_notes
SELECT 100000000 + i, 100000000 + 1 + i % 600, 'owner@small.example', substr(:lorem, 1 + i % 170, 100),
       timestamptz '2026-02-02' + i * interval '1 minute'
FROM generate_series(1, 400) i;
COMMIT;
CREATE INDEX ON events (org_id);
CREATE INDEX ON event_notes (event_id);
VACUUM ANALYZE;
