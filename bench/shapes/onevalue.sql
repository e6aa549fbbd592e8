-- Shape "onevalue": one 300 MiB bytea value (not compressible by TOAST or gzip much).
CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE NOT NULL);
CREATE TABLE files (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, name text NOT NULL, data bytea);
ALTER TABLE files ALTER COLUMN data SET STORAGE EXTERNAL;
INSERT INTO orgs VALUES (1, 'blob'), (2, 'other');
INSERT INTO files SELECT 1, 1, 'big.bin', decode(string_agg(md5(g::text), ''), 'hex') FROM generate_series(1, 19660800) g;
INSERT INTO files VALUES (2, 1, 'small.bin', '\x00ff'), (3, 2, 'other.bin', '\x01');
