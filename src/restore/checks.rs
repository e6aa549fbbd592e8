//! What a restore proves about the staged rows before it writes any (DESIGN §9: the archive
//! is untrusted input): the root section is exactly one row whose key is the manifest's org
//! key; every tenant row names that org; every other owned row is tied by an ownership
//! reference to a row of the archive and by none to a row of another org. Shared rows are
//! matched to present ones by content or natural key — never by key alone — and a key that
//! holds another entity is a conflict (fresh keys with `--remap-keys`). `--fill` expressions
//! are checked before any row is written, and a dry run refuses those with side effects.

use crate::error::{Kind, fail};
use crate::restore::load::{Loader, SectionOutcome};
use crate::restore::model::LoadPlan;

/// Volatile functions whose only effect is their value: a dry run may evaluate them.
const HARMLESS_VOLATILE: &[&str] = &[
    "random",
    "random_normal",
    "gen_random_uuid",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "gen_random_bytes",
    "gen_salt",
];

impl Loader<'_> {
    /// Refuses an archive whose rows are not all the org's, naming the first problem.
    pub async fn check_org(&self, plan: &LoadPlan, org_key: &str) -> anyhow::Result<()> {
        // A tenant schema has no root row: its sections are the org's by where they are.
        let Some(root) = plan.root() else {
            for section in &plan.sections {
                self.check_owned(plan, section).await?;
            }
            return Ok(());
        };
        let root = &plan.sections[root];
        let sql = root.root_check().expect("the root section has a key");
        let row = self
            .client
            .query_one(&sql, &[&org_key])
            .await
            .map_err(|e| anyhow::Error::new(e).context("checking the root row"))?;
        let (rows, keyed, first): (i64, i64, Option<String>) = (row.get(0), row.get(1), row.get(2));
        if rows != 1 || keyed != 1 {
            return Err(refused(format!(
                "its root section {} must hold exactly the org's row with key {org_key}, but holds {rows} row(s){}",
                root.name,
                first
                    .filter(|_| keyed == 0)
                    .map_or(String::new(), |k| format!(" (key {k})"))
            )));
        }
        for section in &plan.sections {
            if let Some(sql) = section.tenant_check(root) {
                let rows = self
                    .query(
                        || format!("checking the tenant column of {}", section.name),
                        &sql,
                    )
                    .await?;
                let (n, value): (i64, Option<String>) = (rows[0].get(0), rows[0].get(1));
                if n > 0 {
                    let column = &section.tenant.as_ref().expect("tenant section").0;
                    return Err(refused(format!(
                        "{n} row(s) of {} belong to another org ({column} = {})",
                        section.name,
                        value.unwrap_or_default()
                    )));
                }
            }
            self.check_owned(plan, section).await?;
        }
        Ok(())
    }

    async fn check_owned(
        &self,
        plan: &LoadPlan,
        section: &crate::restore::model::LoadSection,
    ) -> anyhow::Result<()> {
        let Some(sql) = section.ownership_check(plan) else {
            return Ok(());
        };
        let rows = self
            .query(
                || format!("checking who owns the rows of {}", section.name),
                &sql,
            )
            .await?;
        let (unowned, foreign): (i64, i64) = (rows[0].get(0), rows[0].get(1));
        if foreign > 0 {
            return Err(refused(format!(
                "{foreign} row(s) of {} are owned by rows of another org",
                section.name
            )));
        }
        if unowned > 0 {
            return Err(refused(format!(
                "{unowned} row(s) of {} are owned by no row of the archive",
                section.name
            )));
        }
        Ok(())
    }

    /// Decides, for every shared row, whether it matches a present row, is inserted, or
    /// conflicts; with `--remap-keys` conflicts are matched through the natural key or get
    /// fresh keys (from `fresh[i]`). Conflicts left are an error listing them.
    pub async fn match_shared(
        &self,
        plan: &LoadPlan,
        remap_keys: bool,
        fresh: &[Option<String>],
        outcomes: &mut [SectionOutcome],
    ) -> anyhow::Result<()> {
        let mut conflicts = Vec::new();
        for (i, section) in plan.sections.iter().enumerate() {
            let Some(sql) = section.match_shared() else {
                continue;
            };
            let what = || format!("matching the shared rows of {}", section.name);
            self.execute(what, &sql).await?;
            if remap_keys {
                for sql in section.resolve_shared_conflicts(fresh[i].as_deref()) {
                    self.execute(what, &sql).await?;
                }
            }
            if let Some(sql) = section.shared_new_keys(fresh[i].as_deref()) {
                self.execute(what, &sql).await?;
            }
            let listed = section.shared_conflicts().expect("a shared section");
            if let Some(keys) = self.list_keys(section, &listed).await? {
                conflicts.push(keys);
            }
            if remap_keys && fresh[i].is_some() {
                let rows = self
                    .query(
                        what,
                        &format!(
                            "SELECT count(*) FROM {} WHERE orgexport_action = 'fresh'",
                            section.stage
                        ),
                    )
                    .await?;
                outcomes[i].remapped = rows[0].get::<_, i64>(0) as u64;
            }
        }
        if conflicts.is_empty() {
            return Ok(());
        }
        let fix = if remap_keys {
            "these keys are not fed by a sequence and no unique natural key matches, so --remap-keys cannot give them fresh keys"
        } else {
            "pass --remap-keys to insert them with fresh keys (or match them by a unique natural key such as an e-mail)"
        };
        Err(refused(format!(
            "the target holds other rows under the keys of these shared rows: {}; {fix}",
            conflicts.join("; ")
        )))
    }

    /// Checks each `--fill` expression against its staged section before anything is
    /// written (a syntax or type error is a usage error); in a dry run, refuses one that calls
    /// a volatile function with effects beyond its value (`nextval`: a rollback does not undo
    /// it).
    pub async fn check_fills(&self, plan: &LoadPlan, dry_run: bool) -> anyhow::Result<()> {
        for section in &plan.sections {
            for (column, sql) in &section.fills {
                let named = format!("--fill {}.{column}", section.name);
                let probe = format!(
                    "CREATE TEMP VIEW orgexport_fill_probe AS SELECT ({sql}) AS v FROM {} s",
                    section.stage
                );
                self.client
                    .batch_execute(&format!("SAVEPOINT orgexport_fill; {probe}"))
                    .await
                    .map_err(|e| {
                        fail(
                            Kind::Usage,
                            format!(
                                "{named}: {}",
                                e.as_db_error()
                                    .map_or(e.to_string(), |d| d.message().to_string())
                            ),
                        )
                    })?;
                let volatile: Vec<String> = self
                    .client
                    .query(VOLATILE_IN_PROBE, &[])
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                self.client
                    .batch_execute("ROLLBACK TO SAVEPOINT orgexport_fill; RELEASE orgexport_fill")
                    .await?;
                let harmful: Vec<&String> = volatile
                    .iter()
                    .filter(|f| !HARMLESS_VOLATILE.contains(&f.as_str()))
                    .collect();
                if dry_run && !harmful.is_empty() {
                    return Err(fail(
                        Kind::Usage,
                        format!(
                            "{named} calls {}, whose effects a dry run's rollback does not undo; run without --dry-run, or fill with a stable expression",
                            harmful
                                .iter()
                                .map(|f| format!("{f}()"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The volatile functions the fill probe view calls, by name: a view records no dependency
/// on built-in functions (they are pinned), so its normalised text is searched instead.
const VOLATILE_IN_PROBE: &str = "SELECT DISTINCT p.proname::text FROM pg_proc p \
     WHERE p.provolatile = 'v' \
       AND pg_get_viewdef('orgexport_fill_probe'::regclass) ~ ('\\m' || p.proname || '\\s*\\(') \
     ORDER BY 1";

fn refused(problem: String) -> anyhow::Error {
    fail(
        Kind::ExportFailed,
        format!("the archive cannot be restored: {problem}; nothing was written"),
    )
}
