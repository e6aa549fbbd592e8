-- A small multi-tenant SaaS database for trying orgexport: three schemas, a few thousand
-- rows, five orgs. Loaded by examples/try.sh; also handy to read as a tour of the scope rules.
--
--   root      public.orgs                        (the table the tenant columns reference)
--   tenant    public.projects, public.memberships, public.labels, public.api_keys,
--             billing.subscriptions, billing.invoices            (org_id)
--   child     public.tasks -> projects, public.comments -> tasks, public.task_labels -> tasks|labels,
--             billing.invoice_lines -> invoices                  (NOT NULL foreign keys)
--   referenced public.users (through memberships, tasks.assignee_id…), ref.countries, ref.plans
--   skipped   public.audit_events (global, nothing references it), public.active_projects (view)

BEGIN;
CREATE SCHEMA ref;
CREATE SCHEMA billing;

CREATE TABLE ref.countries (code char(2) PRIMARY KEY, name text NOT NULL);
CREATE TABLE ref.plans (id serial PRIMARY KEY, name text NOT NULL UNIQUE, monthly_price numeric(10,2) NOT NULL);

CREATE TABLE public.orgs (
    id         bigserial PRIMARY KEY,
    slug       text NOT NULL UNIQUE,
    name       text NOT NULL,
    country    char(2) REFERENCES ref.countries,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.users (
    id             bigserial PRIMARY KEY,
    email          text NOT NULL UNIQUE,
    full_name      text NOT NULL,
    password_hash  text NOT NULL,
    country_code   char(2) REFERENCES ref.countries,
    default_org_id bigint REFERENCES public.orgs,   -- nullable: a reference, not ownership
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.memberships (
    id      bigserial PRIMARY KEY,
    org_id  bigint NOT NULL REFERENCES public.orgs,
    user_id bigint NOT NULL REFERENCES public.users,
    role    text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    UNIQUE (org_id, user_id)
);
CREATE INDEX ON public.memberships (user_id);

CREATE TABLE public.projects (
    id         bigserial PRIMARY KEY,
    org_id     bigint NOT NULL REFERENCES public.orgs,
    name       text NOT NULL,
    settings   jsonb NOT NULL DEFAULT '{}',
    created_by bigint REFERENCES public.users,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.projects (org_id);

CREATE TABLE public.tasks (
    id          bigserial PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES public.projects ON DELETE CASCADE,
    title       text NOT NULL,
    description text,
    status      text NOT NULL DEFAULT 'open',
    assignee_id bigint REFERENCES public.users,
    estimate    interval,
    due         date
);
CREATE INDEX ON public.tasks (project_id);

CREATE TABLE public.comments (
    id        bigserial PRIMARY KEY,
    task_id   bigint NOT NULL REFERENCES public.tasks ON DELETE CASCADE,
    author_id bigint NOT NULL REFERENCES public.users,
    body      text NOT NULL,
    posted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.comments (task_id);

CREATE TABLE public.labels (
    id     bigserial PRIMARY KEY,
    org_id bigint NOT NULL REFERENCES public.orgs,
    name   text NOT NULL,
    color  text NOT NULL
);
CREATE INDEX ON public.labels (org_id);

CREATE TABLE public.task_labels (
    task_id  bigint NOT NULL REFERENCES public.tasks ON DELETE CASCADE,
    label_id bigint NOT NULL REFERENCES public.labels ON DELETE CASCADE,
    PRIMARY KEY (task_id, label_id)
);
CREATE INDEX ON public.task_labels (label_id);

CREATE TABLE public.api_keys (
    id         bigserial PRIMARY KEY,
    org_id     bigint NOT NULL REFERENCES public.orgs,
    label      text NOT NULL,
    value      text NOT NULL,          -- the secret itself: excluded (table name holds "key")
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON public.api_keys (org_id);

CREATE TABLE billing.subscriptions (
    id      bigserial PRIMARY KEY,
    org_id  bigint NOT NULL REFERENCES public.orgs,
    plan_id integer NOT NULL REFERENCES ref.plans,
    started date NOT NULL
);
CREATE INDEX ON billing.subscriptions (org_id);

CREATE TABLE billing.invoices (
    id        bigserial PRIMARY KEY,
    org_id    bigint NOT NULL REFERENCES public.orgs,
    number    text NOT NULL UNIQUE,
    issued_on date NOT NULL,
    total     numeric(12,2) NOT NULL
);
CREATE INDEX ON billing.invoices (org_id);

CREATE TABLE billing.invoice_lines (
    invoice_id bigint NOT NULL REFERENCES billing.invoices ON DELETE CASCADE,
    line_no    integer NOT NULL,
    item       text NOT NULL,
    amount     numeric(12,2) NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);

CREATE TABLE public.audit_events (id bigserial PRIMARY KEY, happened_at timestamptz NOT NULL DEFAULT now(), message text NOT NULL);
CREATE VIEW public.active_projects AS SELECT * FROM public.projects;

INSERT INTO ref.countries VALUES ('US', 'United States'), ('DE', 'Germany'), ('FR', 'France'),
    ('JP', 'Japan'), ('BR', 'Brazil'), ('IN', 'India'), ('SE', 'Sweden');
INSERT INTO ref.plans (name, monthly_price) VALUES ('free', 0), ('team', 49), ('business', 199), ('enterprise', 999);

INSERT INTO public.orgs (slug, name, country) VALUES
    ('acme', 'Acme Corporation', 'US'), ('globex', 'Globex GmbH', 'DE'), ('initech', 'Initech', 'US'),
    ('umbrella', 'Umbrella 株式会社', 'JP'), ('hooli', 'Hooli', 'SE');

INSERT INTO public.users (email, full_name, password_hash, country_code, default_org_id)
SELECT format('user%s@example.com', i), format('User %s', i), md5('pw' || i),
       (ARRAY['US','DE','FR','JP','BR','IN','SE'])[1 + i % 7], 1 + i % 5
FROM generate_series(1, 300) i;

INSERT INTO public.memberships (org_id, user_id, role)
SELECT 1 + i % 5, i, CASE WHEN i <= 5 THEN 'owner' WHEN i % 10 = 0 THEN 'admin' ELSE 'member' END
FROM generate_series(1, 300) i;
-- a few consultants who belong to two orgs
INSERT INTO public.memberships (org_id, user_id, role)
SELECT 1 + (i + 1) % 5, i, 'member' FROM generate_series(1, 300, 37) i;

INSERT INTO public.projects (org_id, name, settings, created_by)
SELECT 1 + i % 5, format('Project %s', i), jsonb_build_object('color', (ARRAY['red','green','blue'])[1 + i % 3], 'archived', i % 9 = 0), 1 + i % 300
FROM generate_series(1, 60) i;

INSERT INTO public.tasks (project_id, title, description, status, assignee_id, estimate, due)
SELECT 1 + i % 60, format('Task %s', i),
       CASE WHEN i % 4 = 0 THEN NULL ELSE format(E'Steps:\n1. do "thing" %s\n2. check C:\\temp', i) END,
       (ARRAY['open','doing','done'])[1 + i % 3],
       CASE WHEN i % 5 = 0 THEN NULL ELSE 1 + (i * 7) % 300 END,
       make_interval(hours => i % 40), date '2026-01-01' + i % 365
FROM generate_series(1, 1500) i;

INSERT INTO public.comments (task_id, author_id, body)
SELECT 1 + i % 1500, 1 + (i * 13) % 300, format('Looks good 👍 (%s)', i)
FROM generate_series(1, 2500) i;

INSERT INTO public.labels (org_id, name, color)
SELECT 1 + i % 5, (ARRAY['bug','feature','chore','urgent'])[1 + i / 5 % 4], '#' || substr(md5(i::text), 1, 6)
FROM generate_series(0, 19) i;

INSERT INTO public.task_labels (task_id, label_id)
SELECT t.id, l.id FROM public.tasks t JOIN public.projects p ON p.id = t.project_id
JOIN public.labels l ON l.org_id = p.org_id WHERE (t.id + l.id) % 3 = 0;

INSERT INTO public.api_keys (org_id, label, value)
SELECT 1 + i % 5, format('ci key %s', i), 'sk_live_' || md5('key' || i) FROM generate_series(1, 10) i;

INSERT INTO billing.subscriptions (org_id, plan_id, started)
SELECT id, 1 + id % 4, date '2025-01-01' + (id * 30)::int FROM public.orgs;

INSERT INTO billing.invoices (org_id, number, issued_on, total)
SELECT 1 + i % 5, format('INV-%s', 1000 + i), date '2025-01-31' + i, 0 FROM generate_series(1, 100) i;

INSERT INTO billing.invoice_lines (invoice_id, line_no, item, amount)
SELECT inv.id, n, format('seat x%s', n), (inv.id % 7 + n) * 10.50
FROM billing.invoices inv, generate_series(1, 3) n;
UPDATE billing.invoices i SET total = (SELECT sum(amount) FROM billing.invoice_lines l WHERE l.invoice_id = i.id);

INSERT INTO public.audit_events (message) SELECT format('login %s', i) FROM generate_series(1, 200) i;
ANALYZE;
COMMIT;
