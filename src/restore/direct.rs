//! The direct load (DESIGN §9, issue 19 item 8): when nothing in a plan rewrites rows between
//! the archive and the target (no shared section to match, no remapped key, no `--fill`) and
//! every table the archive fills is empty in the target, the batches go straight into the
//! target's tables instead of staging tables, and the same checks then run against the
//! inserted rows, in the same transaction. The tables are locked (`SHARE ROW EXCLUSIVE`,
//! `NOWAIT`) before they are found empty, so their rows are exactly the archive's until the
//! commit: a check that reads "the staged rows" reads them. A load that fails this way is
//! rolled back and done again through staging tables by `transaction.rs`, so a refusal
//! reads exactly as it would have. Which rows are checked, and how, is `checks.rs`'s and
//! `load.rs`'s; this file decides whether a plan may skip its stages and rewrites it so.
//!
//! It also feeds those tables by `COPY … FROM STDIN` (text) rather than
//! `json_populate_recordset` where the target's column types allow it (`Copier`): one COPY per
//! run of a section's batches, the JSON turned into COPY text off the reactor by
//! `copy_text.rs`. COPY's batched heap inserts cost about half of a row-at-a-time `INSERT`
//! from `json_populate_recordset` (bench/RESULTS.md). Anything COPY would read otherwise than
//! `json_populate_recordset` keeps the latter: tables with rules (COPY does not apply them) or
//! row security, composite and nested-domain columns, arrays of anything but plain scalars.

use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::FuturesOrdered;
use tokio_postgres::CopyInSink;

use crate::restore::copy_text::{Field, Layout, Scratch, convert};
use crate::restore::load::Loader;
use crate::restore::model::LoadPlan;
use crate::restore::sql::idents;

/// Whether the plan writes every archived row as it is: then the stages add a second write
/// and nothing else. A group of sections that must load in one statement (a cycle of
/// non-deferrable references) keeps its stages.
pub fn eligible(plan: &LoadPlan) -> bool {
    plan.sections
        .iter()
        .all(|s| s.shared.is_none() && s.remap.is_none() && s.fills.is_empty())
        && plan.order.iter().all(|group| group.len() == 1)
}

/// The plan with every section staged in its own target table, read as the target's rows
/// are (`ONLY` the table: an old-style inheritance child's rows are not the archive's).
pub fn in_place(plan: &LoadPlan) -> LoadPlan {
    let mut direct = plan.clone();
    for section in &mut direct.sections {
        section.stage = section.read.clone();
    }
    direct.direct = true;
    direct
}

impl Loader<'_> {
    /// Locks the plan's tables against other writers and says whether they are all empty;
    /// when they are not (or another session is writing to one), the locks are let go at
    /// once: the staged load takes none.
    pub async fn claim_empty(&self, plan: &LoadPlan) -> anyhow::Result<bool> {
        let tables: Vec<&str> = plan.sections.iter().map(|s| s.table.as_str()).collect();
        let read: Vec<&str> = plan.sections.iter().map(|s| s.read.as_str()).collect();
        self.batch(
            || "starting the direct load".to_string(),
            "SAVEPOINT orgexport_direct",
        )
        .await?;
        let lock = format!(
            "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE NOWAIT",
            tables.join(", ")
        );
        let empty = match self.batch(|| "locking the tables".to_string(), &lock).await {
            Ok(()) => {
                let any: Vec<String> = read
                    .iter()
                    .map(|t| format!("EXISTS (SELECT 1 FROM {t})"))
                    .collect();
                let sql = format!("SELECT NOT ({})", any.join(" OR "));
                let rows = self
                    .query(|| "reading the tables".to_string(), &sql)
                    .await?;
                rows[0].get::<_, bool>(0)
            }
            Err(err) if crate::error::kind_of(&err) == crate::error::Kind::Interrupted => {
                return Err(err);
            }
            Err(_) => false,
        };
        let end = if empty {
            "RELEASE SAVEPOINT orgexport_direct"
        } else {
            "ROLLBACK TO SAVEPOINT orgexport_direct; RELEASE SAVEPOINT orgexport_direct"
        };
        self.batch(|| "ending the direct load's check".to_string(), end)
            .await?;
        Ok(empty)
    }
}

/// Each column of a table and how it is written as COPY text; NULL when it cannot be (the
/// whole table then keeps `json_populate_recordset`). A domain counts by its base type when
/// that is a plain one; an array when it is a true array (`array_in`) of plain, comma-delimited
/// elements.
const COLUMN_FIELDS: &str = "\
SELECT a.attname::text, CASE
    WHEN c.relhasrules OR c.relrowsecurity THEN NULL
    WHEN b.oid IN ('json'::regtype, 'jsonb'::regtype) THEN 'json'
    WHEN b.typtype NOT IN ('b', 'e', 'r', 'm') THEN NULL
    WHEN b.typlen = -1 AND b.typelem <> 0 THEN CASE
        WHEN t.typtype = 'b' AND b.typinput = 'array_in'::regproc
             AND e.typtype IN ('b', 'e', 'r', 'm') AND NOT (e.typlen = -1 AND e.typelem <> 0)
             AND e.oid NOT IN ('json'::regtype, 'jsonb'::regtype) AND e.typdelim = ','
        THEN 'array' END
    ELSE 'scalar' END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_type e ON e.oid = b.typelem
WHERE a.attrelid = $1::text::regclass AND a.attnum > 0 AND NOT a.attisdropped";

/// The COPYs of a direct load: which sections may be copied, and the one open now.
pub struct Copier {
    layouts: Vec<Option<Arc<Layout>>>,
    open: Option<(usize, Pin<Box<CopyInSink<Bytes>>>)>,
    scratch: Option<Scratch>,
}

impl Copier {
    /// Whether section `i`'s batches go by COPY.
    pub fn takes(&self, i: usize) -> bool {
        self.layouts.get(i).is_some_and(Option::is_some)
    }
}

impl Loader<'_> {
    /// The copier of a plan: no section is copied unless the load is direct.
    pub async fn copier(&self, plan: &LoadPlan) -> anyhow::Result<Copier> {
        let mut layouts = Vec::new();
        for section in plan.sections.iter().filter(|_| plan.direct) {
            let rows = self
                .run(
                    || format!("reading the column types of {}", section.name),
                    self.client.query(COLUMN_FIELDS, &[&section.table]),
                )
                .await?;
            let field = |column: &String| {
                let row = rows.iter().find(|r| r.get::<_, &str>(0) == column)?;
                match row.get::<_, Option<&str>>(1)? {
                    "json" => Some(Field::Json),
                    "array" => Some(Field::Array),
                    _ => Some(Field::Scalar),
                }
            };
            let fields: Option<Vec<Field>> = section.columns.iter().map(field).collect();
            layouts.push(fields.and_then(|f| Layout::new(&section.columns, f).map(Arc::new)));
        }
        Ok(Copier {
            layouts,
            open: None,
            scratch: Some(Scratch::default()),
        })
    }

    /// One batch of section `i` as COPY text into its table, after the batches still in
    /// flight by `json_populate_recordset`; a COPY of another section is finished first.
    pub async fn copy_batch<F>(
        &self,
        copier: &mut Copier,
        in_flight: &mut FuturesOrdered<F>,
        plan: &LoadPlan,
        i: usize,
        json: String,
    ) -> anyhow::Result<()>
    where
        F: Future<Output = (usize, Result<u64, tokio_postgres::Error>)>,
    {
        let section = &plan.sections[i];
        let what = || format!("loading rows of {}", section.name);
        let layout = copier.layouts[i].clone().expect("a copied section");
        let mut scratch = copier.scratch.take().unwrap_or_default();
        // Off the reactor: a batch is a megabyte of text to walk.
        let (text, scratch) = tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(json.len() + json.len() / 8);
            let converted = convert(&json, &layout, &mut scratch, &mut out);
            (converted.map(|()| out), scratch)
        })
        .await?;
        copier.scratch = Some(scratch);
        let text = text.map_err(|problem| anyhow::anyhow!(problem).context(what()))?;
        self.land(in_flight, plan, 0).await?;
        if copier.open.as_ref().is_some_and(|(open, _)| *open != i) {
            self.finish_copy(copier, plan).await?;
        }
        if copier.open.is_none() {
            let sql = format!(
                "COPY {} ({}) FROM STDIN",
                section.table,
                idents(&section.columns, "")
            );
            self.report.verbose(&sql);
            let sink = self.run(what, self.client.copy_in(&sql)).await?;
            copier.open = Some((i, Box::pin(sink)));
        }
        let (_, sink) = copier.open.as_mut().expect("a COPY was opened");
        self.run(what, sink.send(Bytes::from(text))).await
    }

    /// Ends the open COPY, if any: the server has then taken (or refused) all of its rows.
    pub async fn finish_copy(&self, copier: &mut Copier, plan: &LoadPlan) -> anyhow::Result<()> {
        let Some((i, mut sink)) = copier.open.take() else {
            return Ok(());
        };
        let what = || format!("loading rows of {}", plan.sections[i].name);
        self.run(what, sink.as_mut().finish()).await.map(|_| ())
    }
}
