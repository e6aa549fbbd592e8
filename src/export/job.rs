//! One export of one org, end to end (DESIGN §1): the history row, the org's lock, the
//! snapshot read into a spool section by section, the archive (manifest first) uploaded with
//! its sidecar, the history row completed, the link. Failures are recorded on the row
//! (`failed`, or `cancelled` on Ctrl-C) and nothing partial is left in the store. Choosing
//! which orgs to export and printing the results is the `run` command's.

use std::time::{Duration, Instant};

use anyhow::Context;
use tokio_postgres::Statement;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::archive_format::Format;
use crate::db::connect::{Db, connect};
use crate::db::lock::{self, Acquired, Holder};
use crate::encryption::Recipients;
use crate::encryption::seal::Sealing;
use crate::error::{Kind, fail, kind_of, one_line};
use crate::export::adoption::adopt_for_org;
use crate::export::archive::{
    ArchiveInfo, ArchiveWriter, Counted, Manifest, OrgRef, SectionFile, SectionManifest, Sidecar,
    Spool, SpoolRange,
};
use crate::export::content::exclude_secret_content;
use crate::export::estimate::section_estimates;
use crate::export::formats::{self, framing::Framing};
use crate::export::judging::ToJudge;
use crate::export::locks::ReadLocks;
use crate::export::manifest::FORMAT;
use crate::export::narrowing::{self, narrowed_planner};
use crate::export::snapshot::Snapshot;
use crate::history::{self, Completed, NewExport, Status};
use crate::org::{self, Org};
use crate::output::{Reporter, SectionProgress, human_bytes};
use crate::scope::catalog::Catalog;
use crate::scope::columns::RenderMode;
use crate::scope::model::{Scope, Section};
use crate::scope::narrowing::{Narrowing, manifest_selection};
use crate::scope::plan::{Planner, SectionSql};
use crate::scope::sampling::with_exclusions;
use crate::store::{Link, Store, Uploaded};

/// The result of one successful export.
#[derive(Debug)]
pub struct Exported {
    pub id: Uuid,
    pub org: Org,
    pub object_url: String,
    pub link: Link,
    pub bytes: u64,
    pub sha256: String,
    pub record_count: u64,
    pub sections: usize,
    /// A narrowed export's `selection` (the manifest's).
    pub selection: Option<serde_json::Value>,
    /// Whom the archive is encrypted to ([`Recipients::describe`]); `None`: not encrypted.
    pub encryption: Option<serde_json::Value>,
}

/// A failed export, with the id and org of its history row when it got that far (an
/// unknown org, or a history that cannot be written, has none).
pub struct Unexported {
    pub recorded: Option<(Uuid, Org)>,
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for Unexported {
    fn from(error: anyhow::Error) -> Unexported {
        Unexported {
            recorded: None,
            error,
        }
    }
}

/// Everything an export of one org needs, opened once per invocation.
pub struct Job<'a> {
    pub store: &'a Store,
    /// History rows, audit events and the org's lock: on the history database.
    pub history: &'a Db,
    /// A session on the source other than the reading one (names a lock-timeout's blocker).
    pub observer: &'a tokio_postgres::Client,
    pub catalog: &'a Catalog,
    pub scope: &'a Scope,
    pub planner: &'a Planner<'a>,
    pub cancel: &'a CancellationToken,
    pub report: Reporter,
    pub compression_level: u32,
    pub max_rows: Option<u64>,
    pub link_ttl: Duration,
    pub render: RenderMode,
    /// Sessions reading the snapshot side by side (`--jobs`).
    pub jobs: usize,
    /// `--subject` / `--since` / `--until`, checked (`export::narrowing::check`).
    pub narrowing: Option<&'a Narrowing>,
    /// The age recipients the archive is encrypted to (`--encrypt-to`); `None`: plaintext.
    pub encryption: Option<&'a Recipients>,
    /// The archive's layout (`--format`).
    pub format: Format,
}

/// `--jobs` by default: one reader per core, at most four (each holds a database session
/// and up to ~15 MiB of buffers).
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Estimated rows from which a section is worth a reading session of its own.
const WORTH_A_READER: i64 = 50_000;

/// The spooled sections: one spool per reader, and where each section is, in manifest order.
pub struct Spooled {
    spools: Vec<Spool>,
    ranges: Vec<SpoolRange>,
}

/// One org to export: as typed by the operator, or already resolved (`--all-orgs`).
pub enum Request {
    Lookup(String),
    Resolved(Org),
}

impl Request {
    pub fn name(&self) -> &str {
        match self {
            Request::Lookup(lookup) => lookup,
            Request::Resolved(org) => &org.lookup,
        }
    }
}

impl Job<'_> {
    /// Exports one org: resolves it, records the request, takes the org's lock (waiting up to
    /// `wait`), exports, and records the outcome.
    pub async fn export(
        &self,
        db: &mut Db,
        request: &Request,
        wait: Option<Duration>,
    ) -> Result<Exported, Unexported> {
        let org = match request {
            Request::Lookup(lookup) => {
                org::resolve(&db.client, self.catalog, self.scope, self.planner, lookup).await?
            }
            Request::Resolved(org) => org.clone(),
        };
        // Schema-per-tenant: the org's own schema is what is read and locked.
        if let Some(scope) = crate::scope::rules::for_tenant(self.catalog, self.scope, &org.key)? {
            let planner = Planner::new(self.catalog, &scope);
            let job = Job {
                scope: &scope,
                planner: &planner,
                ..*self
            };
            return Box::pin(job.export(db, &Request::Resolved(org), wait)).await;
        }
        // A subject that is not among the org's rows is refused before anything is recorded.
        if let Some(narrowing) = self.narrowing {
            narrowing::find_subject(&db.client, self.catalog, self.planner, narrowing, &org)
                .await?;
        }
        let id = Uuid::now_v7();
        let new = NewExport {
            id,
            org_key: &org.key,
            org_lookup: &org.lookup,
            org_table: &org.table,
        };
        history::create(&self.history.client, &new).await?;
        let started = Instant::now();
        match self.export_with_lock(db, &org, id, wait).await {
            Ok(exported) => {
                self.report_done(&exported, started);
                Ok(exported)
            }
            Err(err) => {
                self.record_failure(id, &org, &err).await;
                Err(Unexported {
                    recorded: Some((id, org)),
                    error: err,
                })
            }
        }
    }

    async fn export_with_lock(
        &self,
        db: &mut Db,
        org: &Org,
        id: Uuid,
        wait: Option<Duration>,
    ) -> anyhow::Result<Exported> {
        // On the history database: exports of one org exclude each other whichever database
        // (a primary or its standby) they read, as long as they share their history.
        let key = lock::lock_key(&org.key);
        match self.acquire(org, id, key, wait).await? {
            Acquired::Taken => {
                let outcome = self.export_locked(db, org, id).await;
                match &outcome {
                    // A statement may still run on the session (a COPY, or a count waiting for
                    // a lock): cancel it server-side; the lock goes with the session at exit.
                    Err(err) if kind_of(err) == Kind::Interrupted => db.cancel_running().await,
                    // The lock also goes with the session; a dead connection has released it.
                    _ => {
                        let _ = lock::release(&self.history.client, key).await;
                    }
                }
                outcome
            }
            Acquired::Busy(holder) => Err(self.busy(org, id, holder, wait).await),
        }
    }

    /// The org's lock (on the history database); with `wait`, when it is busy, says whom the export queues behind
    /// and keeps saying that it waits (a spinner, or a line every heartbeat) until it has
    /// the lock or the time is up.
    async fn acquire(
        &self,
        org: &Org,
        id: Uuid,
        key: i64,
        wait: Option<Duration>,
    ) -> anyhow::Result<Acquired> {
        let first = lock::acquire(&self.history.client, key, None, self.cancel).await?;
        let (Acquired::Busy(holder), Some(limit)) = (&first, wait) else {
            return Ok(first);
        };
        let behind = self.holder_of(org, id, holder.clone()).await;
        self.report.info(&format!(
            "export {id} of org {} is queued behind {behind}; waiting up to {}",
            org.lookup,
            humantime::format_duration(limit)
        ));
        tokio::select! {
            acquired = lock::acquire(&self.history.client, key, wait, self.cancel) => acquired,
            () = self.report.waiting(&behind) => unreachable!("waiting() never returns"),
        }
    }

    /// Who holds the org's lock: the export recorded in the history (pid, host, since) and
    /// the database session.
    async fn holder_of(&self, org: &Org, id: Uuid, holder: Option<Holder>) -> String {
        let running = history::running_export_of(&self.history.client, &org.key, id)
            .await
            .ok()
            .flatten();
        match (running, holder) {
            (Some(export), Some(h)) => format!("{export}; database session {h}"),
            (Some(export), None) => export,
            (None, Some(h)) => format!("database session {h}"),
            (None, None) => "its holder just let go".to_string(),
        }
    }

    /// Exit 4: who holds the org's lock and what to do.
    async fn busy(
        &self,
        org: &Org,
        id: Uuid,
        holder: Option<Holder>,
        wait: Option<Duration>,
    ) -> anyhow::Error {
        let who = self.holder_of(org, id, holder).await;
        let advice = match wait {
            Some(w) => format!("gave up after waiting {}", humantime::format_duration(w)),
            None => "retry later or pass --wait=DURATION to queue behind it".to_string(),
        };
        fail(
            Kind::LockBusy,
            format!(
                "another export of org {} is in progress ({who}); {advice}",
                org.lookup
            ),
        )
    }

    fn report_done(&self, exported: &Exported, started: Instant) {
        let org = &exported.org;
        // Shown with -q too: in a cron log, the line that says which org and export the
        // link printed on stdout belongs to.
        self.report.notice(&format!(
            "exported org {} ({} {}): export {}, {} sections, {} rows, {} in {:.1}s",
            org.lookup,
            org.table,
            org.key,
            exported.id,
            exported.sections,
            exported.record_count,
            human_bytes(exported.bytes),
            started.elapsed().as_secs_f64()
        ));
        if let Some(recipients) = self.encryption {
            self.report
                .info(&format!("encrypted with age to {}", recipients.summary()));
        }
        match exported.link.expires_at {
            Some(at) => self.report.info(&format!(
                "download link valid until {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            None => self
                .report
                .info("local file: the link is an unsigned file:// URL"),
        }
    }

    /// Marks the history row `failed` (or `cancelled` on Ctrl-C) with the one-line reason.
    async fn record_failure(&self, id: Uuid, org: &Org, err: &anyhow::Error) {
        let status = if kind_of(err) == Kind::Interrupted {
            Status::Cancelled
        } else {
            Status::Failed
        };
        let marked =
            history::mark_failed(&self.history.client, id, &org.key, status, &one_line(err)).await;
        if let Err(history_err) = marked {
            self.report.warn(&format!(
                "could not record the failure in orgexport.exports: {}",
                one_line(&history_err)
            ));
        }
    }

    /// The export proper, with the org's lock held.
    async fn export_locked(&self, db: &mut Db, org: &Org, id: Uuid) -> anyhow::Result<Exported> {
        history::mark_running(&self.history.client, id).await?;
        // The org's folder is written through real directories only (a symlinked folder
        // would put the archive outside the store): checked before anything is read.
        let mut key = self
            .store
            .archive_key_as(&org.dir, &id.to_string(), self.format);
        if self.encryption.is_some() {
            key = crate::store::layout::encrypted(&key);
        }
        self.store.check_inside(&key)?;
        let (manifest, spooled) = self.read_snapshot(db, org, id).await?;
        let object_url = self.store.object_url(&key);
        let uploaded = self
            .upload(&key, &object_url, id, &manifest, spooled)
            .await?;
        self.record_completed(org, id, &manifest, &key, &object_url, &uploaded)
            .await?;
        let link = self.store.link(&key, self.link_ttl).await?;
        Ok(Exported {
            id,
            org: org.clone(),
            object_url,
            link,
            bytes: uploaded.bytes,
            sha256: uploaded.sha256,
            record_count: manifest.record_count(),
            sections: manifest.sections.len(),
            selection: manifest.selection.clone(),
            encryption: self.encryption.map(Recipients::describe),
        })
    }

    /// Reads every selected section in one snapshot into the spools and builds the manifest.
    /// Sections first: the manifest that leads the archive then holds exact counts (and the
    /// redacted json keys) without a separate counting pass. With `jobs` > 1, more sessions
    /// join the snapshot and read sections side by side.
    async fn read_snapshot(
        &self,
        db: &mut Db,
        org: &Org,
        id: Uuid,
    ) -> anyhow::Result<(Manifest, Spooled)> {
        // Row-level security would hide rows: fail before anything is written.
        let selected = self.scope.selected_sections(self.catalog)?;
        let key = org::key_for(&db.client, self.planner, &org.key).await?;
        let locks = ReadLocks::of(self.catalog, self.scope);
        // The parallel readers' sessions are opened before the snapshot is taken (connecting
        // is the slow part), and join it right after.
        let mut helpers = Vec::new();
        for _ in 1..self.readers_for(&selected) {
            helpers.push(
                connect(&db.options)
                    .await
                    .context("opening a parallel reader")?,
            );
        }
        let snapshot = Snapshot::begin(
            &mut db.client,
            &locks,
            self.observer,
            &self.report,
            self.cancel,
        )
        .await?;
        // Polymorphic pairs adopted from this org's own type values (`infer_references`).
        let adopted = adopt_for_org(&snapshot, self.catalog, self.scope, &key).await?;
        let scope = adopted.as_ref().unwrap_or(self.scope);
        let selected = match &adopted {
            Some(scope) => scope.selected_sections(self.catalog)?,
            None => selected,
        };
        let planner =
            narrowed_planner(&snapshot, (self.catalog, scope), &selected, &key, org).await?;
        let readers = self.join_readers(&snapshot, &mut helpers).await?;
        // Secrets by content are judged on this org's rows, in the snapshot that is written.
        // Parquet types its values from their binary form: rendered client-side always.
        let render = match self.format {
            Format::Parquet => RenderMode::Client,
            _ => self.render,
        };
        let on_stream = render == RenderMode::Client;
        let (selected, to_judge): (Vec<Section>, Vec<ToJudge>) = exclude_secret_content(
            &snapshot,
            self.catalog,
            scope,
            &planner,
            &key,
            (&selected, on_stream),
        )
        .await?
        .into_iter()
        .unzip();
        let sqls: Vec<SectionSql> = selected
            .iter()
            .map(|s| planner.section_sql(s, &key, self.max_rows, render))
            .collect();
        let estimates = match self.report.output.quiet {
            true => vec![None; sqls.len()],
            false => {
                section_estimates(
                    &snapshot,
                    self.catalog,
                    &planner,
                    &key,
                    &selected,
                    self.max_rows,
                )
                .await
            }
        };
        let snapshot_at = snapshot.snapshot_at.clone();
        let snapshot_source = if snapshot.standby {
            "standby"
        } else {
            "primary"
        };
        let server_version = snapshot.server_version.clone();
        let mut all = vec![&snapshot];
        all.extend(readers.iter());
        let (counted, spooled) = self
            .read_sections(&all, (&sqls, &to_judge), &estimates)
            .await?;
        for reader in readers {
            reader.finish().await?;
        }
        snapshot.finish().await?;
        let sections = selected
            .iter()
            .zip(counted)
            .map(|(section, mut counted)| {
                let excluded = std::mem::take(&mut counted.excluded_by_content);
                let section = with_exclusions(section, &excluded);
                SectionManifest::new(self.catalog, scope, &section, counted)
            })
            .collect();
        let manifest = Manifest {
            format: FORMAT,
            archive_format: (self.format != Format::Json).then(|| self.format.name()),
            encoding: formats::encoding(self.format),
            export_id: id.to_string(),
            org: OrgRef {
                table: org.table.clone(),
                key: org.key.clone(),
                lookup: org.lookup.clone(),
            },
            generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            snapshot_at,
            snapshot_source,
            server_version,
            tool_version: env!("CARGO_PKG_VERSION"),
            selection: manifest_selection(
                self.catalog,
                scope,
                &scope.config.narrow,
                planner.narrowing.as_ref(),
                planner.subject.as_ref(),
            ),
            polymorphic: (scope.config.infer_references || !scope.config.polymorphic.is_empty())
                .then(|| scope.config.polymorphic.clone()),
            sections,
        };
        Ok((manifest, spooled))
    }

    /// How many sessions read: `--jobs`, but no more than the sections big enough to be
    /// worth a session of their own — opening and joining one costs ~0.1 s, more than a
    /// small section takes (the partitions shape: one big section, 15 % slower with two).
    fn readers_for(&self, selected: &[&Section]) -> usize {
        // On Citus a parallel reader joins the coordinator's snapshot only: its queries open
        // worker transactions of their own, at other points in time (a concurrent writer
        // proved it, tests/citus.rs). One session reads every shard through one worker
        // transaction.
        if self.catalog.citus.is_some() {
            return 1;
        }
        let big = selected
            .iter()
            .filter(|s| {
                let rows = self.catalog.table(s.table).estimated_rows;
                rows.is_none_or(|n| n >= WORTH_A_READER)
            })
            .count();
        self.jobs.clamp(1, big.max(1))
    }

    /// The sessions that join the lead's snapshot (`jobs` − 1 of them, opened beforehand):
    /// those that got their locks at once.
    async fn join_readers<'h>(
        &self,
        lead: &Snapshot<'_>,
        helpers: &'h mut [Db],
    ) -> anyhow::Result<Vec<Snapshot<'h>>> {
        let mut readers = vec![];
        if helpers.is_empty() {
            return Ok(readers);
        }
        let shared = lead.export_id().await?;
        for helper in helpers {
            match Snapshot::join(&mut helper.client, &shared, lead.lock()).await? {
                Some(reader) => readers.push(reader),
                None => self.report.verbose(
                    "a parallel reader could not lock the tables at once (DDL queued?): reading with fewer sessions",
                ),
            }
        }
        Ok(readers)
    }

    /// Streams the sections, each reader (one per job) taking the next section not yet
    /// taken, into a spool of its own. Every section is whole gzip members, so the archive
    /// does not depend on which reader wrote which section; they are put in order on upload.
    async fn read_sections(
        &self,
        readers: &[&Snapshot<'_>],
        (sqls, to_judge): (&[SectionSql], &[ToJudge]),
        estimates: &[Option<u64>],
    ) -> anyhow::Result<(Vec<Counted>, Spooled)> {
        let progress = self.report.export_progress(estimates);
        let next = std::cell::Cell::new(0usize);
        // A bundle's sections are files of their own: whole gzip members, each digested.
        let whole = readers.len() > 1 || self.format.is_bundle();
        let workers = readers.iter().enumerate().map(|(spool, &snapshot)| {
            let (next, progress) = (&next, &progress);
            async move {
                let framing = Framing::of(self.format);
                let mut writer =
                    ArchiveWriter::with_framing(Spool::new()?, self.compression_level, framing);
                let mut done = Vec::new();
                let claim = || {
                    let i = next.get();
                    (i < sqls.len()).then(|| next.replace(i + 1))
                };
                // Each section's COPY is prepared while the one before it streams. One reader
                // prepares the next PREPARED_AHEAD at once (a thousand small sections: a parse
                // round trip each, otherwise); several claim one section ahead only, when they
                // start one, so that each gets its share of the big ones.
                let batch = if readers.len() == 1 {
                    PREPARED_AHEAD
                } else {
                    1
                };
                let mut queue = std::collections::VecDeque::new();
                if let Some(i) = claim() {
                    queue.push_back((i, snapshot.prepare_copy(&sqls[i], self.cancel).await?));
                }
                while let Some((i, copy)) = queue.pop_front() {
                    self.report
                        .verbose(&format!("{}: {}", sqls[i].name, sqls[i].copy));
                    let start = writer.sink().bytes();
                    let claimed: Vec<usize> = match queue.is_empty() {
                        true => (0..batch).map_while(|_| claim()).collect(),
                        false => Vec::new(),
                    };
                    let (counted, prepared) = futures_util::future::join(
                        self.stream_section(
                            snapshot,
                            (&sqls[i], &copy, &to_judge[i]),
                            (i == 0, whole),
                            &mut writer,
                            progress.section_estimated(&sqls[i].name, estimates[i]),
                        ),
                        futures_util::future::try_join_all(
                            claimed
                                .iter()
                                .map(|&j| snapshot.prepare_copy(&sqls[j], self.cancel)),
                        ),
                    )
                    .await;
                    let mut counted = counted?;
                    queue.extend(claimed.into_iter().zip(prepared?));
                    counted.file = writer.take_digest().map(|(bytes, sha256)| SectionFile {
                        path: formats::section_path(self.format, &sqls[i].name),
                        bytes,
                        sha256,
                    });
                    let len = writer.sink().bytes() - start;
                    done.push((i, counted, SpoolRange { spool, start, len }));
                }
                writer.finish().await?;
                anyhow::Ok((writer.into_sink(), done))
            }
        });
        let mut counted = vec![Counted::default(); sqls.len()];
        let mut ranges = vec![SpoolRange::default(); sqls.len()];
        let mut spools = Vec::with_capacity(readers.len());
        for (spool, done) in futures_util::future::try_join_all(workers).await? {
            spools.push(spool);
            for (i, c, range) in done {
                (counted[i], ranges[i]) = (c, range);
            }
        }
        if readers.len() == 1 && !self.format.is_bundle() {
            // One reader: its spool is the sections in order, members across sections.
            let len = spools[0].bytes();
            ranges = vec![SpoolRange {
                spool: 0,
                start: 0,
                len,
            }];
        }
        Ok((counted, Spooled { spools, ranges }))
    }

    /// Uploads the archive (manifest first, then the spooled sections) and its sidecar. On
    /// failure nothing is left at either key.
    async fn upload(
        &self,
        key: &object_store::path::Path,
        object_url: &str,
        id: Uuid,
        manifest: &Manifest,
        spooled: Spooled,
    ) -> anyhow::Result<Uploaded> {
        // Recorded before the first byte: a run killed mid-upload leaves a row that says where
        // to clean up.
        history::mark_uploading(&self.history.client, id, object_url).await?;
        if let Some(recipients) = self.encryption {
            history::mark_encrypted(&self.history.client, id, &recipients.describe()).await?;
        }
        // Encrypted (age) between the assembly and the upload: the store sees ciphertext only.
        let mut sink = Sealing::new(self.store.upload(key).await?, self.encryption)?;
        let written = tokio::select! {
            written = async {
                formats::assemble(self.format, manifest, spooled.spools, &spooled.ranges, self.compression_level, &mut sink).await?;
                sink.finish().await?;
                sink.inner_mut().settle().await
            } => written,
            _ = self.cancel.cancelled() => Err(fail(Kind::Interrupted, "interrupted")),
        };
        let upload = sink.into_inner();
        if let Err(err) = written {
            upload.abort().await;
            return Err(err);
        }
        let uploaded = upload.finish().await?;
        self.store.restrict(key)?;
        let sidecar_key = Store::sidecar_of(key);
        let sidecar = Sidecar {
            manifest,
            archive: ArchiveInfo {
                format: self.format.name(),
                object_url: object_url.to_string(),
                bytes: uploaded.bytes,
                sha256: uploaded.sha256.clone(),
            },
        };
        let mut sidecar = serde_json::to_value(&sidecar)?;
        if let Some(recipients) = self.encryption {
            // Plaintext beside the ciphertext: whom it is for, never a key or a value.
            sidecar["archive"]["encryption"] = recipients.describe();
        }
        if let Err(err) = self
            .store
            .put(&sidecar_key, serde_json::to_vec_pretty(&sidecar)?)
            .await
        {
            // Nothing partial: an archive without its sidecar is removed again.
            let _ = self.store.delete(key).await;
            return Err(err);
        }
        self.store.restrict(&sidecar_key)?;
        Ok(uploaded)
    }

    /// Completes the history row; when that fails, the archive and sidecar are removed: an
    /// archive the history does not know about would never be pruned nor linked.
    async fn record_completed(
        &self,
        org: &Org,
        id: Uuid,
        manifest: &Manifest,
        key: &object_store::path::Path,
        object_url: &str,
        uploaded: &Uploaded,
    ) -> anyhow::Result<()> {
        let manifest_json = serde_json::to_value(manifest).context("serializing the manifest")?;
        let completed = Completed {
            object_url,
            bytes: uploaded.bytes,
            sha256: &uploaded.sha256,
            record_count: manifest.record_count(),
            manifest: manifest_json,
        };
        let recorded =
            history::mark_completed(&self.history.client, id, &org.key, &completed).await;
        if let Err(err) = recorded {
            let _ = self.store.delete(&Store::sidecar_of(key)).await;
            let _ = self.store.delete(key).await;
            return Err(err);
        }
        Ok(())
    }

    /// Streams one section into the spool and counts what the manifest needs: the rows
    /// written, the total when capped, and the cross-tenant rows left out.
    async fn stream_section(
        &self,
        snapshot: &Snapshot<'_>,
        (sql, copy, judge): (&SectionSql, &Statement, &ToJudge),
        first_whole: (bool, bool),
        writer: &mut ArchiveWriter<Spool>,
        progress: SectionProgress<'_>,
    ) -> anyhow::Result<Counted> {
        let streamed = snapshot
            .stream(
                (sql, copy, judge),
                first_whole,
                writer,
                self.cancel,
                |rows, bytes| progress.set(rows, bytes),
            )
            .await;
        let streamed = match streamed {
            Ok(streamed) => streamed,
            Err(err) => {
                progress.abandon();
                return Err(err);
            }
        };
        let (written, mut redacted_json_keys) = (streamed.rows, streamed.redacted);
        let excluded_by_content = streamed.excluded;
        progress.finish(written);
        self.report.verbose(&format!(
            "{}: {written} rows, COPY read in {:.3}s, written in {:.3}s",
            sql.name,
            streamed.read.as_secs_f64(),
            streamed.total.as_secs_f64()
        ));
        redacted_json_keys.sort();
        let total = match self.max_rows {
            Some(cap) if written >= cap => snapshot.count(sql, &sql.count, self.cancel).await?,
            _ => written,
        };
        let cross_tenant = match &sql.candidates {
            Some(query) => {
                let candidates = snapshot.count(sql, query, self.cancel).await?;
                Some(candidates.saturating_sub(total))
            }
            None => None,
        };
        Ok(Counted {
            written,
            total,
            cross_tenant,
            redacted_json_keys,
            excluded_by_content,
            file: None,
        })
    }
}

/// Sections whose COPY one reader prepares ahead of the one it streams.
const PREPARED_AHEAD: usize = 16;
