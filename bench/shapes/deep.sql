-- Shape "deep": a 5-hop ownership chain org → projects → epics → stories → tasks → subtasks.
CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE NOT NULL);
CREATE TABLE projects (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, name text NOT NULL);
CREATE TABLE epics (id bigint PRIMARY KEY, project_id bigint NOT NULL REFERENCES projects, name text NOT NULL);
CREATE TABLE stories (id bigint PRIMARY KEY, epic_id bigint NOT NULL REFERENCES epics, name text NOT NULL);
CREATE TABLE tasks (id bigint PRIMARY KEY, story_id bigint NOT NULL REFERENCES stories, name text NOT NULL, estimate int);
CREATE TABLE subtasks (id bigint PRIMARY KEY, task_id bigint NOT NULL REFERENCES tasks, name text NOT NULL, done boolean NOT NULL);
INSERT INTO orgs VALUES (1, 'deep'), (2, 'other');
-- org 1 gets the first 4/5 of every level, org 2 the rest
INSERT INTO projects SELECT g, CASE WHEN g <= 40 THEN 1 ELSE 2 END, 'P' || g FROM generate_series(1, 50) g;
INSERT INTO epics SELECT g, 1 + (g - 1) / 20, 'E' || md5(g::text) FROM generate_series(1, 1000) g;
INSERT INTO stories SELECT g, 1 + (g - 1) / 10, 'S' || md5(g::text) FROM generate_series(1, 10000) g;
INSERT INTO tasks SELECT g, 1 + (g - 1) / 10, 'T' || md5(g::text), g % 13 FROM generate_series(1, 100000) g;
INSERT INTO subtasks SELECT g, 1 + (g - 1) / 5, 'U' || md5(g::text) || md5((g * 3)::text), g % 2 = 0 FROM generate_series(1, 500000) g;
CREATE INDEX ON projects (org_id); CREATE INDEX ON epics (project_id); CREATE INDEX ON stories (epic_id);
CREATE INDEX ON tasks (story_id); CREATE INDEX ON subtasks (task_id);
ANALYZE;
