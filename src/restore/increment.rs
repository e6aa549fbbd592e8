//! A narrowed archive (`--subject`, `--since`/`--until`, `--where`) restored into a database
//! that already holds the rest of the org: the rows it holds for completeness — the org's
//! row, the project of a new task — are usually there already. An owned row whose key the
//! target holds with the same content is matched (kept as it is, counted as `matched`), as a
//! shared row is; the same key with other content stays a conflict. A whole-org archive
//! keeps the strict rule: its org rows must be new. Which archives are narrowed is the
//! manifest's `selection`; the other steps of a load are `load.rs`'s.

use crate::db::quote_ident;
use crate::restore::load::{Loader, SectionOutcome};
use crate::restore::model::{LoadPlan, LoadSection};

impl Loader<'_> {
    /// Drops the staged owned rows the target already holds unchanged.
    pub async fn match_present_owned(
        &self,
        plan: &LoadPlan,
        outcomes: &mut [SectionOutcome],
    ) -> anyhow::Result<()> {
        for (i, section) in plan.sections.iter().enumerate() {
            if let Some(sql) = delete_present(section) {
                let what = || format!("matching the present rows of {}", section.name);
                outcomes[i].matched += self.execute(what, &sql).await?;
            }
        }
        Ok(())
    }
}

/// `DELETE` the staged rows whose key the target holds with equal values in every restored
/// column (compared as text, as shared rows are); `None` for shared, remapped or keyless
/// sections.
fn delete_present(section: &LoadSection) -> Option<String> {
    if !section.role.is_owned()
        || section.key.is_empty()
        || section.shared.is_some()
        || section.remap.is_some()
    {
        return None;
    }
    let same_key = section.key.iter().map(|c| {
        let c = quote_ident(c);
        format!("t.{c} = s.{c}")
    });
    let same_values = section.columns.iter().map(|c| {
        let c = quote_ident(c);
        format!("t.{c}::text IS NOT DISTINCT FROM s.{c}::text")
    });
    Some(format!(
        "DELETE FROM {} s WHERE EXISTS (SELECT 1 FROM {} t WHERE {})",
        section.stage,
        section.read,
        same_key
            .chain(same_values)
            .collect::<Vec<_>>()
            .join(" AND ")
    ))
}
