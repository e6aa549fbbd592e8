-- A catalog of 1,000 tables for scope discovery: a root, tenant tables, and every third table
-- a child of the one before it (NOT NULL foreign key, no tenant column).
CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE);
INSERT INTO orgs VALUES (1, 'o1'), (2, 'o2');
DO $$
BEGIN
  FOR n IN 1..999 LOOP
    IF n % 3 = 0 THEN
      EXECUTE format('CREATE TABLE t%s (id bigint PRIMARY KEY, parent_id bigint NOT NULL REFERENCES t%s, v text)', n, n - 1);
    ELSE
      EXECUTE format('CREATE TABLE t%s (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, v text)', n);
      EXECUTE format('CREATE INDEX ON t%s (org_id)', n);
      EXECUTE format('INSERT INTO t%s VALUES (1, 1, %L), (2, 2, %L)', n, 'a', 'b');
    END IF;
  END LOOP;
END $$;
ANALYZE;
