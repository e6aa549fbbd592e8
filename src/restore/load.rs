//! Carrying out a [`LoadPlan`] in one transaction on the target (DESIGN §9):
//!
//! 1. every section's rows are staged, batch by batch as the archive is read, into temporary
//!    tables of the target's column types (`json_populate_recordset`: PostgreSQL's own input
//!    functions); the archive is verified while read, and a bad one stops here;
//! 2. the staged rows are proven to be the org's (`checks.rs`): one root row with the
//!    archive's key, tenant columns naming it, ownership references into the archive; shared
//!    rows are matched by content or natural key;
//! 3. key maps are drawn; references to rows of neither the archive nor the target are
//!    settled; staged keys and references are rewritten; matched shared rows are dropped;
//! 4. owned keys the target already holds are an error listing them;
//! 5. the groups of the plan's order are inserted, one statement each; sequences are moved
//!    past the restored values; then commit — or rollback for a dry run, or for any failure,
//!    so that the target is exactly as before.
//!
//! Memory: the reader thread holds one batch being filled and the channel a few more.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::db::connect::Canceller;
use crate::error::{Kind, fail};
use crate::export::verify::{ArchiveSink, Verdict, read_archive};
use crate::output::Reporter;
use crate::restore::manifest::ArchivedManifest;
use crate::restore::model::{LoadPlan, LoadSection};
use crate::restore::sql::insert_group;

/// JSON per staging statement: large enough that round trips cost nothing measurable,
/// small enough to keep memory flat.
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight between the reader thread and the loader.
const CHANNEL_DEPTH: usize = 4;

/// What the reader thread hands the loader.
#[derive(Debug)]
pub enum Event {
    Manifest(Value),
    /// Rows of one section, as one JSON array.
    Rows {
        section: String,
        json: String,
        rows: u64,
    },
    /// The archive was read to its end (or to its first problem).
    Done(Verdict),
}

/// Collects rows into batches for the channel.
struct Batcher {
    tx: mpsc::Sender<Event>,
    section: String,
    json: String,
    rows: u64,
}

impl Batcher {
    fn flush(&mut self) -> Result<(), String> {
        if self.rows == 0 {
            return Ok(());
        }
        self.json.push(']');
        let event = Event::Rows {
            section: self.section.clone(),
            json: std::mem::replace(&mut self.json, String::with_capacity(BATCH_BYTES + 4096)),
            rows: std::mem::take(&mut self.rows),
        };
        self.tx
            .blocking_send(event)
            .map_err(|_| "the restore stopped".to_string())
    }
}

impl ArchiveSink for Batcher {
    fn manifest(&mut self, manifest: &Value) -> Result<(), String> {
        self.tx
            .blocking_send(Event::Manifest(manifest.clone()))
            .map_err(|_| "the restore stopped".to_string())
    }

    fn row(&mut self, section: &str, json: &str) -> Result<(), String> {
        if section != self.section || self.json.len() >= BATCH_BYTES {
            self.flush()?;
            if section != self.section {
                self.section = section.to_string();
            }
        }
        self.json.push(if self.rows == 0 { '[' } else { ',' });
        self.json.push_str(json);
        self.rows += 1;
        Ok(())
    }
}

/// Reads the archive on a blocking thread; events arrive on the returned channel, the last
/// one always `Done`.
pub fn start_reading(
    raw: impl Read + Send + 'static,
    max_value_bytes: u64,
) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    tokio::task::spawn_blocking(move || {
        let mut batcher = Batcher {
            tx: tx.clone(),
            section: String::new(),
            json: String::with_capacity(BATCH_BYTES + 4096),
            rows: 0,
        };
        let mut verdict = read_archive(raw, &mut batcher, max_value_bytes);
        if let Err(e) = batcher.flush() {
            verdict.problems.push(e);
        }
        let _ = tx.blocking_send(Event::Done(verdict));
    });
    rx
}

/// What happened to one section.
#[derive(Debug, Clone, Default)]
pub struct SectionOutcome {
    pub name: String,
    pub rows: u64,
    pub inserted: u64,
    /// Shared rows the target already held (equal content, or the same natural key).
    pub matched: u64,
    /// Rows whose key was replaced by a fresh one.
    pub remapped: u64,
    /// Per `schema.table.column`: values cleared because they pointed at a row of neither the
    /// archive nor the target (declared foreign keys only).
    pub cleared: BTreeMap<String, u64>,
    /// Per `schema.table.column`: values kept although they point at a row of neither the
    /// archive nor the target (references that exist only by configuration or inference).
    pub unresolved: BTreeMap<String, u64>,
}

impl SectionOutcome {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "rows": self.rows,
            "inserted": self.inserted,
            "matched": self.matched,
            "remapped": self.remapped,
            "cleared": self.cleared,
            "unresolved": self.unresolved,
        })
    }

    pub fn cleared_total(&self) -> u64 {
        self.cleared.values().sum()
    }
}

/// One per-column count (`cleared`, `unresolved`) over every section:
/// `{"schema.table.column": n}`.
pub fn per_column(
    outcomes: &[SectionOutcome],
    count: impl Fn(&SectionOutcome) -> &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    outcomes
        .iter()
        .flat_map(|o| count(o).iter().map(|(c, n)| (c.clone(), *n)))
        .collect()
}

/// The session the restore runs in, its cancellation, and where it reports.
pub struct Loader<'a> {
    pub client: &'a Client,
    pub canceller: Canceller,
    pub cancel: &'a CancellationToken,
    pub report: Reporter,
}

impl Loader<'_> {
    /// Runs a statement, abandoning it (and cancelling it server-side) on Ctrl-C.
    pub(super) async fn run<T>(
        &self,
        what: impl FnOnce() -> String,
        query: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> anyhow::Result<T> {
        tokio::select! {
            result = query => result.map_err(|e| anyhow::Error::new(DbFailure(e)).context(what())),
            _ = self.cancel.cancelled() => {
                self.canceller.cancel().await;
                Err(fail(Kind::Interrupted, "interrupted"))
            }
        }
    }

    pub async fn execute(&self, what: impl FnOnce() -> String, sql: &str) -> anyhow::Result<u64> {
        self.report.verbose(sql);
        self.run(what, self.client.execute(sql, &[])).await
    }

    pub(super) async fn batch(
        &self,
        what: impl FnOnce() -> String,
        sql: &str,
    ) -> anyhow::Result<()> {
        self.report.verbose(sql);
        self.run(what, self.client.batch_execute(sql)).await
    }

    pub(super) async fn query(
        &self,
        what: impl FnOnce() -> String,
        sql: &str,
    ) -> anyhow::Result<Vec<tokio_postgres::Row>> {
        self.report.verbose(sql);
        self.run(what, self.client.query(sql, &[])).await
    }

    /// The reader's next event, or `Interrupted` on Ctrl-C.
    async fn next_event(
        &self,
        events: &mut mpsc::Receiver<Event>,
    ) -> anyhow::Result<Option<Event>> {
        tokio::select! {
            event = events.recv() => Ok(event),
            _ = self.cancel.cancelled() => Err(fail(Kind::Interrupted, "interrupted")),
        }
    }

    /// Stages every section's rows from `events` (the manifest already taken) and returns
    /// the archive's verdict. Rows of a section the manifest does not list stop the load.
    /// Creates each section's staging table and prepares its batch insert.
    async fn create_stages(
        &self,
        plan: &LoadPlan,
    ) -> anyhow::Result<Vec<tokio_postgres::Statement>> {
        let mut prepared = Vec::new();
        for section in plan.sections.iter().filter(|_| !plan.direct) {
            self.batch(
                || format!("creating the staging table of {}", section.name),
                &section.create_stage(),
            )
            .await?;
        }
        for section in &plan.sections {
            prepared.push(
                self.run(
                    || format!("preparing the load of {}", section.name),
                    self.client.prepare(&section.stage_batch(plan.direct)),
                )
                .await?,
            );
        }
        Ok(prepared)
    }

    pub async fn stage(
        &self,
        plan: &LoadPlan,
        events: &mut mpsc::Receiver<Event>,
        outcomes: &mut [SectionOutcome],
    ) -> anyhow::Result<Verdict> {
        let statements = self.create_stages(plan).await?;
        let index: HashMap<&str, usize> = plan
            .sections
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let progress = self.report.progress("restore", plan.sections.len());
        let mut current: Option<(usize, crate::output::SectionProgress)> = None;
        let mut bytes = 0u64;
        // Batches are pipelined: the next one is sent while the server runs the one before,
        // instead of a round trip each. One session runs them in order all the same.
        let mut in_flight = FuturesOrdered::new();
        // A direct load's sections whose types allow it go by COPY instead (`direct.rs`).
        let mut copier = self.copier(plan).await?;
        loop {
            let event = self.next_event(events).await?;
            let Some(Event::Rows {
                section,
                json,
                rows,
            }) = event
            else {
                let landed = match self.land(&mut in_flight, plan, 0).await {
                    Ok(()) => self.finish_copy(&mut copier, plan).await,
                    failed => failed,
                };
                if let Some((c, bar)) = current.take() {
                    bar.finish(outcomes[c].rows);
                }
                return match (event, landed) {
                    // The archive's own fault, when it has one, is the cause to report.
                    (Some(Event::Done(verdict)), Err(_)) if !verdict.ok() => Ok(verdict),
                    (_, Err(err)) => Err(err),
                    (Some(Event::Done(verdict)), Ok(())) => Ok(verdict),
                    _ => anyhow::bail!("the archive reader stopped unexpectedly"),
                };
            };
            let Some(&i) = index.get(section.as_str()) else {
                let err = anyhow::anyhow!(
                    "the archive holds rows of {section}, which its manifest does not list"
                );
                return self.archive_at_fault(err, events).await;
            };
            if current.as_ref().is_none_or(|(c, _)| *c != i) {
                if let Some((c, bar)) = current.take() {
                    bar.finish(outcomes[c].rows);
                }
                bytes = 0;
                current = Some((i, progress.section(&section)));
            }
            bytes += json.len() as u64;
            let sent = if copier.takes(i) {
                self.copy_batch(&mut copier, &mut in_flight, plan, i, json)
                    .await
            } else if let Err(err) = self.finish_copy(&mut copier, plan).await {
                Err(err)
            } else {
                let (client, statement) = (self.client, &statements[i]);
                in_flight.push_back(async move { (i, client.execute(statement, &[&json]).await) });
                self.land(&mut in_flight, plan, 1).await
            };
            if let Err(err) = sent {
                if let Some((_, bar)) = current.take() {
                    bar.abandon();
                }
                return self.archive_at_fault(err, events).await;
            }
            outcomes[i].rows += rows;
            if let Some((_, bar)) = &current {
                bar.set(outcomes[i].rows, bytes);
            }
        }
    }

    /// Waits until no more than `left` batches are in flight; the first one the server
    /// refused is the error.
    pub(super) async fn land<F>(
        &self,
        in_flight: &mut FuturesOrdered<F>,
        plan: &LoadPlan,
        left: usize,
    ) -> anyhow::Result<()>
    where
        F: Future<Output = (usize, Result<u64, tokio_postgres::Error>)>,
    {
        while in_flight.len() > left {
            let which = std::cell::Cell::new(0);
            let landed = async {
                let (i, result) = in_flight.next().await.expect("a batch in flight");
                which.set(i);
                result
            };
            let what = || format!("loading rows of {}", plan.sections[which.get()].name);
            self.run(what, landed).await?;
        }
        Ok(())
    }

    /// A value the target refused may be the archive's fault (a flipped bit inside a row
    /// that gzip's check at the end of the member has not caught yet): the rest is read, and
    /// an unsound archive is reported as such rather than as the symptom.
    async fn archive_at_fault(
        &self,
        err: anyhow::Error,
        events: &mut mpsc::Receiver<Event>,
    ) -> anyhow::Result<Verdict> {
        if crate::error::kind_of(&err) == Kind::Interrupted {
            return Err(err);
        }
        loop {
            let event = self.next_event(events).await?;
            match event {
                Some(Event::Done(verdict)) if !verdict.ok() => return Ok(verdict),
                Some(Event::Done(_)) | None => return Err(err),
                Some(_) => {}
            }
        }
    }

    /// Step 2: draws the key maps (fresh keys for remapped owned rows, the new keys of
    /// shared rows), settles references that point at neither the archive nor the target
    /// (archive values, before any rewrite), rewrites the staged rows through the maps, and
    /// drops the shared rows that match present ones. `fresh` names, per section, the
    /// sequence fresh keys come from (a temporary one in a dry run).
    pub async fn prepare(
        &self,
        plan: &LoadPlan,
        fresh: &[Option<String>],
        outcomes: &mut [SectionOutcome],
    ) -> anyhow::Result<()> {
        for (i, section) in plan.sections.iter().enumerate() {
            if let Some(sql) = section.create_map(i, fresh[i].as_deref()) {
                self.batch(|| format!("drawing new keys for {}", section.name), &sql)
                    .await?;
                if section.remap.is_some() {
                    outcomes[i].remapped = outcomes[i].rows;
                }
            }
        }
        self.settle_danglings(plan, outcomes).await?;
        for (i, section) in plan.sections.iter().enumerate() {
            for sql in section.rewrite_statements(i) {
                self.execute(|| format!("rewriting the keys of {}", section.name), &sql)
                    .await?;
            }
            if let Some(sql) = section.delete_matched() {
                outcomes[i].matched = self
                    .execute(|| format!("matching the rows of {}", section.name), &sql)
                    .await?;
            }
        }
        Ok(())
    }

    /// References to rows of neither the archive nor the target: a declared foreign key's
    /// nullable columns are cleared (counted per column); a reference known only by
    /// configuration or inference keeps its values (counted as unresolved); anything else is
    /// an error.
    async fn settle_danglings(
        &self,
        plan: &LoadPlan,
        outcomes: &mut [SectionOutcome],
    ) -> anyhow::Result<()> {
        let mut refused = Vec::new();
        for (i, section) in plan.sections.iter().enumerate() {
            for dangling in &section.danglings {
                let what = || format!("checking the references of {}", section.name);
                let column_name = |c: &str| format!("{}.{c}", section.name);
                if dangling.declared && !dangling.nullable.is_empty() {
                    let cleared = self
                        .execute(what, &section.clear_dangling(dangling, plan))
                        .await?;
                    for c in dangling.nullable.iter().filter(|_| cleared > 0) {
                        *outcomes[i].cleared.entry(column_name(c)).or_default() += cleared;
                    }
                    continue;
                }
                let rows = self
                    .query(what, &section.count_dangling(dangling, plan))
                    .await?;
                let n = rows[0].get::<_, i64>(0) as u64;
                if n == 0 {
                    continue;
                }
                if dangling.declared {
                    refused.push(format!(
                        "{n} row(s) of {} reference rows of neither the archive nor the target through {} (NOT NULL)",
                        section.name,
                        dangling.columns.join(", ")
                    ));
                } else {
                    for c in &dangling.columns {
                        *outcomes[i].unresolved.entry(column_name(c)).or_default() += n;
                    }
                }
            }
        }
        if refused.is_empty() {
            Ok(())
        } else {
            Err(fail(Kind::ExportFailed, refused.join("; ")))
        }
    }

    /// Step 4: keys of org rows the target already holds, listed per section.
    pub async fn conflicts(&self, plan: &LoadPlan) -> anyhow::Result<Vec<String>> {
        let mut found = Vec::new();
        // A direct load's tables held nothing before it (`direct.rs`).
        let owned = plan
            .sections
            .iter()
            .filter(|s| s.role.is_owned() && !plan.direct);
        for section in owned {
            if let Some(sql) = section.conflicts()
                && let Some(keys) = self.list_keys(section, &sql).await?
            {
                found.push(keys);
            }
        }
        Ok(found)
    }

    /// `schema.table (key): (1) (2) … and N more`, from a query returning up to 5 key texts
    /// and the total; `None` when it returns nothing.
    pub(super) async fn list_keys(
        &self,
        section: &LoadSection,
        sql: &str,
    ) -> anyhow::Result<Option<String>> {
        let rows = self
            .query(|| format!("checking the keys of {}", section.name), sql)
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let total: i64 = first.get(1);
        let keys: Vec<String> = rows
            .iter()
            .map(|r| format!("({})", r.get::<_, Option<String>>(0).unwrap_or_default()))
            .collect();
        let more = if total as usize > keys.len() {
            format!(" and {} more", total as usize - keys.len())
        } else {
            String::new()
        };
        Ok(Some(format!(
            "{} ({}): {}{more}",
            section.name,
            section.key.join(", "),
            keys.join(" ")
        )))
    }

    /// Step 5: the inserts, in the plan's order, and (unless a dry run, whose sequences must
    /// not move: `setval` is not undone by a rollback) the sequences.
    pub async fn insert(
        &self,
        plan: &LoadPlan,
        dry_run: bool,
        outcomes: &mut [SectionOutcome],
    ) -> anyhow::Result<()> {
        for group in plan.order.iter().filter(|_| !plan.direct) {
            let names: Vec<&str> = group
                .iter()
                .map(|&i| plan.sections[i].name.as_str())
                .collect();
            let what = || format!("inserting into {}", names.join(", "));
            // A lone table is a plain insert: the writable CTE a group needs would also
            // materialise a RETURNING row per inserted row just to count them.
            if let [i] = group[..] {
                outcomes[i].inserted = self.execute(what, &plan.sections[i].insert()).await?;
                continue;
            }
            let rows = self.query(what, &insert_group(plan, group)).await?;
            for (k, &i) in group.iter().enumerate() {
                let inserted = rows[0].get::<_, i64>(k) as u64;
                outcomes[i].inserted = inserted;
            }
        }
        if plan.direct {
            // Staging was the insert.
            for outcome in outcomes.iter_mut() {
                outcome.inserted = outcome.rows;
            }
        }
        for section in plan.sections.iter().filter(|_| !dry_run) {
            for sql in section.advance_sequences() {
                self.query(
                    || format!("moving the sequences of {} forward", section.name),
                    &sql,
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// A database error with what the server said in full (message, detail, constraint), in
/// one line: the operator sees which key or constraint failed.
#[derive(Debug)]
struct DbFailure(tokio_postgres::Error);

impl std::fmt::Display for DbFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => {
                write!(f, "{}", db.message())?;
                if let Some(detail) = db.detail() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for DbFailure {}

/// Whether the manifest's caps allow a restore.
pub fn check_complete(manifest: &ArchivedManifest, allow_partial: bool) -> anyhow::Result<()> {
    let capped: Vec<&str> = manifest
        .sections
        .iter()
        .filter(|s| s.capped)
        .map(|s| s.name.as_str())
        .collect();
    if capped.is_empty() || allow_partial {
        return Ok(());
    }
    Err(fail(
        Kind::Usage,
        format!(
            "the archive is capped (--max-rows-per-table) in {}: it does not hold all of the org's rows; pass --allow-partial to restore it anyway",
            capped.join(", ")
        ),
    ))
}
