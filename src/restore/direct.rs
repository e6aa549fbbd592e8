//! The direct load (DESIGN §9, issue 19 item 8): when nothing in a plan rewrites rows between
//! the archive and the target (no shared section to match, no remapped key, no `--fill`) and
//! every table the archive fills is empty in the target, the batches go straight into the
//! target's tables instead of staging tables, and the same checks then run against the
//! inserted rows, in the same transaction. The tables are locked (`SHARE ROW EXCLUSIVE`,
//! `NOWAIT`) before they are found empty, so their rows are exactly the archive's until the
//! commit: a check that reads "the staged rows" reads them. A load that fails this way is
//! rolled back and done again through staging tables by `transaction.rs`, so a refusal
//! reads exactly as it would have. Which rows are checked, and how, is `checks.rs`'s and
//! `load.rs`'s; this file only decides whether a plan may skip its stages and rewrites it so.

use crate::restore::load::Loader;
use crate::restore::model::LoadPlan;

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
