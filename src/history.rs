//! The tool's own state in schema `orgexport` (DESIGN §6): versioned migrations, one row per
//! export in `exports`, and the append-only `audit_log`. Nothing here ever sees a secret
//! column's value or a password: rows hold keys, counts, sizes, URLs and error messages.

use anyhow::Context;
use serde_json::{Value, json};
use tokio_postgres::Client;
use uuid::Uuid;

/// Where an export is in its life (DESIGN §6): `pending` → `running` → `completed` | `failed`
/// | `cancelled`; `completed` → `pruned` (retention) or `deleted` (`orgexport delete`). The one
/// place the status names are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
    Pruned,
    Deleted,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::Running,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
        Status::Pruned,
        Status::Deleted,
    ];
    /// The names, for the command line.
    pub const NAMES: [&'static str; 7] = [
        "pending",
        "running",
        "completed",
        "failed",
        "cancelled",
        "pruned",
        "deleted",
    ];

    pub fn as_str(self) -> &'static str {
        Status::NAMES[Status::ALL.iter().position(|s| *s == self).expect("listed")]
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::NAMES
            .iter()
            .position(|n| *n == text)
            .map(|i| Status::ALL[i])
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Moves export `id` from one of `from` to `to`, setting `set` (extra `col = $n` assignments
/// over `params`, which follow `$1` = id, `$2` = the `from` names, `$3` = `to`). Fails,
/// saying what the row is now, when it is in none of `from`: no update ever overwrites a
/// state it did not expect (a completed export is never marked failed by a late error path).
async fn transition(
    client: &Client,
    id: Uuid,
    from: &[Status],
    to: Status,
    set: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> anyhow::Result<()> {
    let from_names: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let to_name = to.as_str();
    let mut all: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&id, &from_names, &to_name];
    all.extend_from_slice(params);
    let set = if set.is_empty() {
        String::new()
    } else {
        format!(", {set}")
    };
    let updated = client
        .execute(
            &format!(
                "UPDATE orgexport.exports SET status = $3{set} WHERE id = $1 AND status = ANY($2)"
            ),
            &all,
        )
        .await
        .with_context(|| format!("marking export {id} {to}"))?;
    if updated == 1 {
        return Ok(());
    }
    let now: Option<String> = client
        .query_opt("SELECT status FROM orgexport.exports WHERE id = $1", &[&id])
        .await?
        .map(|r| r.get(0));
    Err(anyhow::anyhow!(
        "cannot mark export {id} {to}: it is {}, not {}",
        now.as_deref().unwrap_or("gone"),
        from_names.join(" or ")
    ))
}

/// Whether the database takes no writes (a hot standby, or `default_transaction_read_only`).
pub async fn is_read_only(client: &Client) -> anyhow::Result<bool> {
    Ok(client
        .query_one(
            "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'",
            &[],
        )
        .await
        .context("asking whether the database is read-only")?
        .get(0))
}

/// Whether schema `orgexport` exists (read-only commands never create it). Looked up in the
/// catalog, not through a regclass cast, which fails without USAGE on the schema.
pub async fn exists(client: &Client) -> anyhow::Result<bool> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                            WHERE n.nspname = 'orgexport' AND c.relname = 'exports')",
            &[],
        )
        .await
        .context("looking for schema orgexport")?
        .get(0))
}

/// A fixed advisory key serialising migrations (two runs starting at once on a fresh database).
const MIGRATION_LOCK: i64 = 0x6f72_6765_7870_6f72; // "orgexpor"

/// Each entry brings the schema from version `index` to `index + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE SCHEMA IF NOT EXISTS orgexport;
CREATE TABLE orgexport.schema_version (
    version    integer     NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orgexport.exports (
    id           uuid        PRIMARY KEY,
    org_key      text        NOT NULL,
    org_lookup   text        NOT NULL,
    org_table    text        NOT NULL,
    status       text        NOT NULL CHECK (status IN
                   ('pending', 'running', 'completed', 'failed', 'cancelled', 'pruned')),
    requested_by text        NOT NULL,
    host         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at   timestamptz,
    finished_at  timestamptz,
    object_url   text,
    bytes        bigint,
    sha256       text,
    record_count bigint,
    manifest     jsonb,
    error        text
);
CREATE INDEX exports_org_created ON orgexport.exports (org_key, created_at DESC);
CREATE INDEX exports_unfinished ON orgexport.exports (status) WHERE status IN ('pending', 'running');
CREATE TABLE orgexport.audit_log (
    id        bigserial   PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor     text        NOT NULL,
    db_role   text        NOT NULL DEFAULT current_user,
    action    text        NOT NULL,
    export_id uuid,
    org_key   text,
    details   jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_export ON orgexport.audit_log (export_id);
CREATE FUNCTION orgexport.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'orgexport.audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON orgexport.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION orgexport.audit_log_append_only();
"#,
    r#"
-- Version 2: the OS process id of the orgexport that runs an export, so that an export
-- finding the org's lock busy can name the process and host that hold it.
ALTER TABLE orgexport.exports ADD COLUMN pid integer;
"#,
    r#"
-- Version 3: status `deleted` (`orgexport delete` removed the archive on request). The status
-- CHECK is replaced whatever it is named (a copy made by hand may have renamed it).
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'orgexport.exports'::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%status%'
    LOOP
        EXECUTE format('ALTER TABLE orgexport.exports DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;
ALTER TABLE orgexport.exports ADD CONSTRAINT exports_status_check CHECK (status IN
    ('pending', 'running', 'completed', 'failed', 'cancelled', 'pruned', 'deleted'));
"#,
    r#"
-- Version 4: client-side encryption of the archive: {"scheme": "age", "recipients":
-- [{"type", "fingerprint"}]}; NULL when the archive is not encrypted.
ALTER TABLE orgexport.exports ADD COLUMN IF NOT EXISTS encryption jsonb;
"#,
];

/// Creates or upgrades schema `orgexport`; idempotent and safe when several runs start at once.
pub async fn migrate(client: &mut Client) -> anyhow::Result<()> {
    let txn = client
        .transaction()
        .await
        .context("starting the history migration")?;
    migrate_in(&txn).await?;
    txn.commit()
        .await
        .context("committing the history migration")?;
    Ok(())
}

/// [`migrate`] inside a transaction the caller owns (`restore`'s: on a rollback the target
/// keeps no trace, not even the schema).
pub async fn migrate_in(txn: &impl tokio_postgres::GenericClient) -> anyhow::Result<()> {
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("locking the history migration")?;
    let exists: bool = txn
        .query_one(
            "SELECT to_regclass('orgexport.schema_version') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    let current: i32 = if exists {
        recorded_version(txn).await?
    } else {
        0
    };
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i32 + 1;
        txn.batch_execute(sql).await.map_err(|e| {
            let cause = e
                .as_db_error()
                .map_or(e.to_string(), |d| d.message().to_string());
            let fix = if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
            {
                "; run `orgexport setup` as the owner of schema orgexport (or as a role with CREATE on the database)"
            } else {
                ""
            };
            anyhow::anyhow!("creating schema orgexport (version {version}): {cause}{fix}")
        })?;
        txn.execute(
            "INSERT INTO orgexport.schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    Ok(())
}

/// The schema's version. A copy made with `pg_dump --schema-only` has the tables but not
/// the rows of `schema_version`: its version is read off the tables themselves (each
/// migration leaves a mark) and recorded, so the copy works like the original.
async fn recorded_version(txn: &impl tokio_postgres::GenericClient) -> anyhow::Result<i32> {
    let row = txn
        .query_one(
            "SELECT (SELECT max(version) FROM orgexport.schema_version), \
                    to_regclass('orgexport.exports') IS NOT NULL \
                      AND to_regclass('orgexport.audit_log') IS NOT NULL, \
                    EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('orgexport.exports') \
                            AND attname = 'pid' AND NOT attisdropped), \
                    EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass('orgexport.exports') \
                            AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%''deleted''%'), \
                    EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('orgexport.exports') \
                            AND attname = 'encryption' AND NOT attisdropped)",
            &[],
        )
        .await
        .context("reading the version of schema orgexport")?;
    let (recorded, tables, pid, deleted, encryption): (Option<i32>, bool, bool, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    if let Some(version) = recorded {
        return Ok(version);
    }
    let found = match (tables, pid, deleted) {
        (true, true, true) if encryption => 4,
        (true, true, true) => 3,
        (true, true, false) => 2,
        (true, false, _) => 1,
        (false, _, _) => anyhow::bail!(
            "schema orgexport has a schema_version table but no history tables: it was not made by orgexport; drop it (DROP SCHEMA orgexport CASCADE) or use another database"
        ),
    };
    for version in 1..=found {
        txn.execute(
            "INSERT INTO orgexport.schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .context("recording the version of schema orgexport")?;
    }
    Ok(found)
}

/// A new export request.
pub struct NewExport<'a> {
    pub id: Uuid,
    pub org_key: &'a str,
    pub org_lookup: &'a str,
    pub org_table: &'a str,
}

/// The advisory key a live export holds for as long as its process runs (the row's
/// "heartbeat"): a `pending` or `running` row whose key nobody holds was abandoned.
pub fn liveness_key(id: Uuid) -> i64 {
    crate::db::lock::lock_key(&format!("export:{id}"))
}

/// Records the request: row `pending`, event `export.requested`. The liveness lock is taken
/// before the row becomes visible, so no other process can mistake it for abandoned.
pub async fn create(client: &Client, export: &NewExport<'_>) -> anyhow::Result<()> {
    let actor = crate::host::actor();
    client
        .execute("SELECT pg_advisory_lock($1)", &[&liveness_key(export.id)])
        .await
        .context("taking the export's liveness lock")?;
    client
        .execute(
            "INSERT INTO orgexport.exports (id, org_key, org_lookup, org_table, status, requested_by, host, pid) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)",
            &[
                &export.id,
                &export.org_key,
                &export.org_lookup,
                &export.org_table,
                &actor,
                &crate::host::host_name(),
                &(std::process::id() as i32),
            ],
        )
        .await
        .context("recording the export in orgexport.exports")?;
    audit(
        client,
        "export.requested",
        Some(export.id),
        Some(export.org_key),
        json!({ "lookup": export.org_lookup }),
    )
    .await
}

pub async fn mark_running(client: &Client, id: Uuid) -> anyhow::Result<()> {
    transition(
        client,
        id,
        &[Status::Pending],
        Status::Running,
        "started_at = clock_timestamp()",
        &[],
    )
    .await
}

/// Records where a running export is writing its archive, so that the reconciliation of an
/// abandoned run can remove a partial file.
pub async fn mark_uploading(client: &Client, id: Uuid, object_url: &str) -> anyhow::Result<()> {
    transition(
        client,
        id,
        &[Status::Running],
        Status::Running,
        "object_url = $4",
        &[&object_url],
    )
    .await
}

/// Records, before the first byte is uploaded, that the archive is encrypted and to whom
/// (fingerprints: [`crate::encryption::Recipients::describe`]).
pub async fn mark_encrypted(client: &Client, id: Uuid, encryption: &Value) -> anyhow::Result<()> {
    transition(
        client,
        id,
        &[Status::Running],
        Status::Running,
        "encryption = $4",
        &[encryption],
    )
    .await
}

/// The running export of an org other than `except`: who runs it, for a lock-busy message
/// (`orgexport pid 4242 on bastion-1 (ops@bastion-1), export …, running since …`).
pub async fn running_export_of(
    client: &Client,
    org_key: &str,
    except: Uuid,
) -> anyhow::Result<Option<String>> {
    let row = client
        .query_opt(
            "SELECT id, requested_by, host, pid, \
                    to_char(coalesce(started_at, created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             FROM orgexport.exports \
             WHERE org_key = $1 AND id <> $2 AND status = 'running' \
             ORDER BY created_at LIMIT 1",
            &[&org_key, &except],
        )
        .await
        .context("looking up the export that holds the org's lock")?;
    Ok(row.map(|r| {
        let id: Uuid = r.get(0);
        let requested_by: String = r.get(1);
        let host: String = r.get(2);
        let pid: Option<i32> = r.get(3);
        let since: String = r.get(4);
        format!(
            "orgexport pid {} on {host} ({requested_by}), export {id}, running since {since}",
            pid.map_or("?".to_string(), |p| p.to_string())
        )
    }))
}

/// What a completed export recorded.
pub struct Completed<'a> {
    pub object_url: &'a str,
    pub bytes: u64,
    pub sha256: &'a str,
    pub record_count: u64,
    pub manifest: Value,
}

pub async fn mark_completed(
    client: &Client,
    id: Uuid,
    org_key: &str,
    done: &Completed<'_>,
) -> anyhow::Result<()> {
    transition(
        client,
        id,
        &[Status::Running],
        Status::Completed,
        "finished_at = clock_timestamp(), object_url = $4, bytes = $5, sha256 = $6, \
         record_count = $7, manifest = $8",
        &[
            &done.object_url,
            &(done.bytes as i64),
            &done.sha256,
            &(done.record_count as i64),
            &done.manifest,
        ],
    )
    .await
    .context("recording the completed export")?;
    release_liveness(client, id).await;
    audit(
        client,
        "export.completed",
        Some(id),
        Some(org_key),
        json!({
            "object_url": done.object_url,
            "bytes": done.bytes,
            "sha256": done.sha256,
            "record_count": done.record_count,
        }),
    )
    .await
}

/// Marks an export `failed` or `cancelled` with its error, and audits `export.failed`.
pub async fn mark_failed(
    client: &Client,
    id: Uuid,
    org_key: &str,
    status: Status,
    error: &str,
) -> anyhow::Result<()> {
    transition(
        client,
        id,
        &[Status::Pending, Status::Running],
        status,
        "finished_at = clock_timestamp(), error = $4",
        &[&error],
    )
    .await
    .context("recording the failed export")?;
    release_liveness(client, id).await;
    audit(
        client,
        "export.failed",
        Some(id),
        Some(org_key),
        json!({ "status": status.as_str(), "error": error }),
    )
    .await
}

async fn release_liveness(client: &Client, id: Uuid) {
    // Also released when the session ends; a failure here changes nothing.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&liveness_key(id)])
        .await;
}

/// An export whose process died (SIGKILL, lost host) without recording how it ended.
#[derive(Debug, Clone)]
pub struct Abandoned {
    pub id: Uuid,
    pub org_key: String,
    pub org_lookup: String,
    /// Where its archive was being written, when it got that far.
    pub object_url: Option<String>,
}

/// Marks `pending`/`running` exports whose liveness lock nobody holds as `failed`
/// ("abandoned") and audits each. The key is computed here only ([`liveness_key`]); the
/// server is asked whether it is held.
pub async fn reconcile(client: &Client) -> anyhow::Result<Vec<Abandoned>> {
    let unfinished = client
        .query(
            "SELECT id, org_key, org_lookup, object_url FROM orgexport.exports \
             WHERE status IN ('pending', 'running')",
            &[],
        )
        .await
        .context("reading unfinished exports")?;
    let mut abandoned = Vec::new();
    for row in &unfinished {
        let id: Uuid = row.get(0);
        let held: bool = client
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE {})",
                    crate::db::lock::granted_sql("$1::int8")
                ),
                &[&liveness_key(id)],
            )
            .await
            .context("checking an export's liveness lock")?
            .get(0);
        if held {
            continue;
        }
        let error = "abandoned: the process running this export ended without recording it";
        // Another process may have reconciled it meanwhile: then there is nothing to do.
        if transition(
            client,
            id,
            &[Status::Pending, Status::Running],
            Status::Failed,
            "finished_at = clock_timestamp(), error = $4",
            &[&error],
        )
        .await
        .is_err()
        {
            continue;
        }
        let found = Abandoned {
            id,
            org_key: row.get(1),
            org_lookup: row.get(2),
            object_url: row.get(3),
        };
        audit(
            client,
            "export.failed",
            Some(found.id),
            Some(&found.org_key),
            json!({ "status": "failed", "error": "abandoned" }),
        )
        .await?;
        abandoned.push(found);
    }
    Ok(abandoned)
}

/// Appends an audit event.
pub async fn audit(
    client: &Client,
    action: &str,
    export_id: Option<Uuid>,
    org_key: Option<&str>,
    details: Value,
) -> anyhow::Result<()> {
    client
        .execute(
            "INSERT INTO orgexport.audit_log (actor, action, export_id, org_key, details) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &crate::host::actor(),
                &action,
                &export_id,
                &org_key,
                &details,
            ],
        )
        .await
        .with_context(|| format!("writing audit event {action}"))?;
    Ok(())
}

/// The parts of an export row the commands around `run` need.
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub id: Uuid,
    pub org_key: String,
    pub org_lookup: String,
    pub status: Status,
    pub object_url: Option<String>,
    pub bytes: Option<i64>,
    pub sha256: Option<String>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ExportRow {
    /// The key of this export's archive in `store`, only if the row describes an archive of
    /// that store ([`crate::store::Store::owned_key`], the store boundary); the refusal names
    /// the row.
    pub fn owned_key(
        &self,
        store: &crate::store::Store,
    ) -> anyhow::Result<object_store::path::Path> {
        let id = self.id.to_string();
        store.owned_key(&crate::store::RecordedArchive {
            export_id: &id,
            org_key: &self.org_key,
            org_lookup: &self.org_lookup,
            object_url: self.object_url.as_deref().unwrap_or_default(),
        })
    }
}

fn export_row(row: &tokio_postgres::Row) -> ExportRow {
    ExportRow {
        id: row.get("id"),
        org_key: row.get("org_key"),
        org_lookup: row.get("org_lookup"),
        status: Status::parse(row.get("status")).unwrap_or(Status::Failed),
        object_url: row.get("object_url"),
        bytes: row.get("bytes"),
        sha256: row.get("sha256"),
        finished_at: row.get("finished_at"),
    }
}

const EXPORT_COLUMNS: &str =
    "id, org_key, org_lookup, status, object_url, bytes, sha256, finished_at";

/// The SQL condition "the export is of one of the orgs whose canonical keys are parameter
/// `$n`" (NULL: every org). Which keys an `--org` names is [`crate::org::history_keys`]'s.
fn org_filter(n: usize) -> String {
    format!("(${n}::text[] IS NULL OR org_key = ANY(${n}))")
}

/// The canonical keys the history recorded for `lookup`: exports whose key or typed lookup
/// was `lookup` (how an org deleted since is still found).
pub async fn recorded_org_keys(client: &Client, lookup: &str) -> anyhow::Result<Vec<String>> {
    if !exists(client).await? {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT DISTINCT org_key FROM orgexport.exports \
             WHERE org_key = $1 OR org_lookup = $1 ORDER BY org_key",
            &[&lookup],
        )
        .await
        .context("reading orgexport.exports")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The newest `limit` exports, optionally of one org and one status, each as the JSON object
/// `list --json` prints (with `duration_seconds`).
pub async fn list(
    client: &Client,
    org_keys: Option<&[String]>,
    status: Option<Status>,
    limit: u32,
) -> anyhow::Result<Vec<serde_json::Value>> {
    // `encryption` is read through to_jsonb: `list` never migrates, and a history still at
    // version 2 has no such column (NULL then, as for a plain archive).
    let rows = client
        .query(
            &format!(
                "SELECT row_to_json(e)::text FROM ( \
                 SELECT id, org_lookup, org_key, org_table, status, requested_by, host, \
                        created_at, started_at, finished_at, \
                        extract(epoch FROM finished_at - started_at)::float8 AS duration_seconds, \
                        record_count, bytes, sha256, object_url, \
                        to_jsonb(exports) -> 'encryption' AS encryption, error \
                 FROM orgexport.exports \
                 WHERE {} AND ($2::text IS NULL OR status = $2) \
                 ORDER BY created_at DESC, id DESC LIMIT $3) e",
                org_filter(1)
            ),
            &[&org_keys, &status.map(Status::as_str), &i64::from(limit)],
        )
        .await
        .context("reading orgexport.exports")?;
    rows.iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)))
        .collect::<Result<_, _>>()
        .context("decoding history rows")
}

/// What this role may do with schema `orgexport` (for `check`).
pub struct Access {
    pub exists: bool,
    pub can_create: bool,
    pub can_write: bool,
}

pub async fn access(client: &Client) -> anyhow::Result<Access> {
    let row = client
        .query_one(
            "SELECT to_regclass('orgexport.exports') IS NOT NULL, \
                    has_database_privilege(current_database(), 'CREATE'), \
                    CASE WHEN to_regclass('orgexport.exports') IS NOT NULL \
                         THEN has_table_privilege('orgexport.exports', 'INSERT,UPDATE') \
                          AND has_table_privilege('orgexport.audit_log', 'INSERT') ELSE false END",
            &[],
        )
        .await
        .context("reading the privileges on schema orgexport")?;
    Ok(Access {
        exists: row.get(0),
        can_create: row.get(1),
        can_write: row.get(2),
    })
}

/// One export by id; `None` when there is no such export (or no history at all).
pub async fn find(client: &Client, id: Uuid) -> anyhow::Result<Option<ExportRow>> {
    if !exists(client).await? {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!("SELECT {EXPORT_COLUMNS} FROM orgexport.exports WHERE id = $1"),
            &[&id],
        )
        .await
        .context("reading orgexport.exports")?;
    Ok(row.as_ref().map(export_row))
}

/// A completed export as retention sees it: the row, and whether it finished before the
/// `--older-than` cut-off (always, without one).
pub struct CompletedExport {
    pub export: ExportRow,
    pub old_enough: bool,
}

/// The completed exports of these orgs (all orgs: `None`), newest first within each org:
/// what a retention rule chooses from ([`crate::retention::select`]).
pub async fn completed(
    client: &Client,
    older_than: Option<std::time::Duration>,
    org_keys: Option<&[String]>,
) -> anyhow::Result<Vec<CompletedExport>> {
    let older_than_secs = older_than.map(|d| d.as_secs_f64());
    let rows = client
        .query(
            &format!(
                "SELECT {EXPORT_COLUMNS}, \
                        ($1::float8 IS NULL OR finished_at < now() - make_interval(secs => $1)) AS old_enough \
                 FROM orgexport.exports WHERE status = 'completed' AND {} \
                 ORDER BY org_key, finished_at DESC, id DESC",
                org_filter(2)
            ),
            &[&older_than_secs, &org_keys],
        )
        .await
        .context("selecting exports to prune")?;
    Ok(rows
        .iter()
        .map(|row| CompletedExport {
            export: export_row(row),
            old_enough: row.get("old_enough"),
        })
        .collect())
}

/// Marks an export `pruned` (its archive deleted; the row is kept) and audits it.
pub async fn mark_pruned(client: &Client, export: &ExportRow) -> anyhow::Result<()> {
    mark_archive_removed(client, export, Status::Pruned, "export.pruned").await
}

/// Marks a completed export `deleted` (its archive removed on request by `orgexport delete`;
/// the row is kept) and audits `export.deleted`.
pub async fn mark_deleted(client: &Client, export: &ExportRow) -> anyhow::Result<()> {
    mark_archive_removed(client, export, Status::Deleted, "export.deleted").await
}

async fn mark_archive_removed(
    client: &Client,
    export: &ExportRow,
    to: Status,
    action: &str,
) -> anyhow::Result<()> {
    transition(client, export.id, &[Status::Completed], to, "", &[]).await?;
    audit(
        client,
        action,
        Some(export.id),
        Some(&export.org_key),
        json!({ "object_url": export.object_url, "bytes": export.bytes }),
    )
    .await
}
