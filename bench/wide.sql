-- A catalog of 1,000 tables and 2,200 foreign keys for scope discovery and SQL generation:
-- 200 global lookup tables, 200 tenant tables, and 600 child tables each owned by the table
-- before it, each with a nullable reference to a lookup table and one to an earlier tenant
-- table. Two orgs, two rows per table each.
CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE);
INSERT INTO orgs VALUES (1, 'o1'), (2, 'o2');
DO $$
DECLARE
  lookup int;
  tenant int;
BEGIN
  FOR n IN 1..999 LOOP
    lookup := (n / 5) * 5;          -- the latest lookup table (n % 5 = 0)
    tenant := (n / 5) * 5 + 1;      -- the latest tenant table (n % 5 = 1)
    IF n % 5 = 0 THEN
      EXECUTE format('CREATE TABLE t%s (id bigint PRIMARY KEY, name text)', n);
      EXECUTE format('INSERT INTO t%s VALUES (1, %L), (2, %L)', n, 'one', 'two');
    ELSIF n % 5 = 1 THEN
      EXECUTE format('CREATE TABLE t%s (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, lookup_id bigint %s, v text)',
                     n, CASE WHEN n > 5 THEN format('REFERENCES t%s', lookup) ELSE '' END);
      EXECUTE format('CREATE INDEX ON t%s (org_id)', n);
      EXECUTE format('INSERT INTO t%s VALUES (1, 1, NULL, %L), (2, 2, NULL, %L)', n, 'a', 'b');
    ELSE
      EXECUTE format('CREATE TABLE t%s (id bigint PRIMARY KEY, parent_id bigint NOT NULL REFERENCES t%s, lookup_id bigint %s, other_id bigint REFERENCES t%s, v text)',
                     n, n - 1, CASE WHEN n > 5 THEN format('REFERENCES t%s', lookup) ELSE '' END, tenant);
      EXECUTE format('CREATE INDEX ON t%s (parent_id)', n);
      EXECUTE format('INSERT INTO t%s VALUES (1, 1, NULL, NULL, %L), (2, 2, NULL, NULL, %L)', n, 'a', 'b');
    END IF;
  END LOOP;
END $$;
ANALYZE;
