//! Restoring into a Citus cluster (DESIGN §11): the load plan's reads of the target, redirected
//! for Citus. The load stages the archive in temporary tables of the coordinator and checks it
//! with correlated subqueries against the target's tables; Citus plans none of those on a
//! distributed table ("direct joins between distributed and local tables are not supported")
//! and, for a statement that writes a temporary table, not on a reference table either (it
//! sends the statement to a worker, which has no such table). What Citus does plan is a
//! query of one Citus table filtered by `IN (SELECT … FROM a temporary table)`: the subquery
//! becomes an intermediate result sent to the shards. So each Citus table the checks read is
//! mirrored into a temporary table holding just the target rows the checks can find — those
//! whose keys or referenced columns the stages hold — and the checks read the mirror, refilled
//! when the key rewrites changed a staged key. The transaction runs in Citus's sequential
//! modify mode and never as a direct load (the checks would read the mirrors, not the filled
//! tables). The inserts themselves (`INSERT … SELECT` from the stages) run as Citus plans them,
//! by pulling the rows to the coordinator. What is checked is `checks.rs`'s and `sql.rs`'s,
//! unchanged; this file only changes where the target's rows are read from.

use std::collections::BTreeMap;

use crate::db::quote_ident;
use crate::restore::load::Loader;
use crate::restore::model::{LoadPlan, Mirror, Points};
use crate::scope::catalog::Catalog;

impl Mirror {
    /// Creates the mirror if needed and fills it anew: one multi-shard query per mirror,
    /// each lookup's staged values an intermediate result Citus sends to the shards.
    fn refill(&self) -> String {
        let list = |columns: &[String], alias: &str| {
            columns
                .iter()
                .map(|c| format!("{alias}.{}", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let any: Vec<String> = self
            .lookups
            .iter()
            .map(|(columns, stage, staged)| {
                // Distinct: a tenant column repeats one value in every staged row.
                format!(
                    "({}) IN (SELECT DISTINCT {} FROM {stage} s)",
                    list(columns, "t"),
                    list(staged, "s")
                )
            })
            .collect();
        format!(
            "CREATE TEMP TABLE IF NOT EXISTS {name} ON COMMIT DROP AS SELECT * FROM {table} WITH NO DATA; \
             TRUNCATE {name}; \
             INSERT INTO {name} SELECT * FROM {table} t WHERE {}; \
             ANALYZE {name}",
            any.join(" OR "),
            name = self.name,
            table = self.table,
        )
    }
}

/// The plan with every read of a Citus-managed table's rows (shared-row matching, conflicts,
/// ownership and dangling references) pointed at a mirror of it (`plan.mirrors`). A target
/// without Citus, or whose sections and references touch no Citus table, keeps its plan.
pub fn mirror_reads(mut plan: LoadPlan, catalog: &Catalog) -> LoadPlan {
    let Some(citus) = &catalog.citus else {
        return plan;
    };
    let managed: Vec<String> = (0..catalog.tables.len())
        .filter(|&t| citus.kind(t).is_some())
        .map(|t| catalog.table(t).from_clause())
        .collect();
    let mut mirrors: BTreeMap<String, Mirror> = BTreeMap::new();
    let mut mirror_of = |table: &mut String, lookup: (Vec<String>, String, Vec<String>)| {
        if !managed.contains(table) || lookup.0.is_empty() {
            return;
        }
        let count = mirrors.len();
        let mirror = mirrors.entry(table.clone()).or_insert_with(|| Mirror {
            name: format!("orgexport_citus_{count}"),
            table: table.clone(),
            lookups: Vec::new(),
        });
        if !mirror.lookups.contains(&lookup) {
            mirror.lookups.push(lookup);
        }
        *table = mirror.name.clone();
    };
    for section in &mut plan.sections {
        let stage = section.stage.clone();
        let by_points = |points: &Points, columns: &[String]| {
            (points.columns.clone(), stage.clone(), columns.to_vec())
        };
        for dangling in &mut section.danglings {
            let lookup = by_points(&dangling.points, &dangling.columns);
            mirror_of(&mut dangling.points.table, lookup);
        }
        for owner in &mut section.owners {
            let lookup = by_points(&owner.points, &owner.columns);
            mirror_of(&mut owner.points.table, lookup);
        }
        // Matching shared rows, conflicts and present rows look the section's own rows up by
        // key, and a shared row also by its natural key.
        let mut own = vec![section.key.clone()];
        own.extend(section.shared.as_ref().map(|s| s.natural.clone()));
        let table = section.read.clone();
        for columns in own {
            let mut read = table.clone();
            mirror_of(&mut read, (columns.clone(), stage.clone(), columns));
            if read != table {
                section.read = read;
            }
        }
    }
    plan.mirrors = mirrors.into_values().collect();
    plan
}

impl Loader<'_> {
    /// Before anything else in a restore into Citus: one connection per worker for the
    /// whole transaction. Rows go into reference tables and into distributed tables whose
    /// foreign keys point at them; Citus refuses a write to a reference table after parallel
    /// access to a table referencing it in the same transaction.
    pub async fn start_citus(&self, plan: &LoadPlan) -> anyhow::Result<()> {
        if plan.mirrors.is_empty() {
            return Ok(());
        }
        self.batch(
            || "preparing the Citus transaction".to_string(),
            "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'",
        )
        .await
    }

    /// After the key rewrites: the mirrors again, when a rewrite changed a staged key that
    /// conflicts are looked up by (a remapped key, or a key column that follows a map).
    pub async fn mirror_rewritten_keys(&self, plan: &LoadPlan) -> anyhow::Result<()> {
        let rewritten = plan
            .sections
            .iter()
            .any(|s| s.remap.is_some() || s.rewrites.iter().any(|w| s.key.contains(&w.column)));
        if rewritten {
            self.mirror_target(plan).await?;
        }
        Ok(())
    }

    /// Fills the mirrors from the target with the rows the stages now look up.
    pub async fn mirror_target(&self, plan: &LoadPlan) -> anyhow::Result<()> {
        for mirror in &plan.mirrors {
            self.batch(
                || format!("reading the rows of {} the checks need", mirror.table),
                &mirror.refill(),
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::manifest::Role;
    use crate::restore::model::{Dangling, LoadSection, Shared};
    use crate::scope::catalog::{Citus, CitusKind};
    use crate::scope::testing::Builder;

    fn section(table: &str, stage: usize, role: Role, key: &[&str]) -> LoadSection {
        LoadSection {
            name: table.to_string(),
            role,
            table: format!("\"public\".\"{table}\""),
            read: format!("ONLY \"public\".\"{table}\""),
            stage: format!("orgexport_restore_{stage}"),
            columns: Vec::new(),
            key_type: None,
            fills: Vec::new(),
            key: key.iter().map(|k| k.to_string()).collect(),
            root_key: None,
            tenant: None,
            owners: Vec::new(),
            remap: None,
            shared: None,
            sequences: Vec::new(),
            rewrites: Vec::new(),
            danglings: Vec::new(),
        }
    }

    /// companies (distributed) → users (reference, natural key email) and → notes, a table
    /// Citus does not manage.
    fn plan_and_catalog() -> (LoadPlan, Catalog) {
        let mut catalog = Builder::default()
            .table("public.companies", &["id!", "owner_id", "note_id"])
            .table("public.users", &["id!", "email!"])
            .table("public.notes", &["id!"])
            .build();
        let id = |name: &str| catalog.find(name).unwrap();
        let kinds = [
            (
                id("public.companies"),
                CitusKind::Distributed {
                    column: "id".into(),
                    colocation: 1,
                },
            ),
            (id("public.users"), CitusKind::Reference),
        ];
        catalog.citus = Some(Citus {
            kinds: kinds.into_iter().collect(),
            distributed_schemas: Vec::new(),
        });
        let mut companies = section("companies", 0, Role::Root, &["id"]);
        let mut users = section("users", 1, Role::Referenced, &["id"]);
        users.shared = Some(Shared {
            compare: Vec::new(),
            natural: vec!["email".into()],
            fresh: None,
        });
        for (column, table) in [("owner_id", "users"), ("note_id", "notes")] {
            companies.danglings.push(Dangling {
                columns: vec![column.into()],
                nullable: vec![column.into()],
                when: None,
                points: Points {
                    section: None,
                    table: format!("ONLY \"public\".\"{table}\""),
                    columns: vec!["id".into()],
                },
                declared: true,
            });
        }
        let plan = LoadPlan {
            sections: vec![companies, users],
            order: vec![vec![1], vec![0]],
            direct: false,
            mirrors: Vec::new(),
        };
        (plan, catalog)
    }

    #[test]
    fn reads_of_citus_tables_go_to_mirrors_keyed_by_the_stages() {
        let (plan, catalog) = plan_and_catalog();
        let plan = mirror_reads(plan, &catalog);
        let users = plan
            .mirrors
            .iter()
            .find(|m| m.table == "ONLY \"public\".\"users\"")
            .unwrap();
        let lookup = |columns: &[&str], stage: &str, staged: &[&str]| {
            let strings = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            (strings(columns), stage.to_string(), strings(staged))
        };
        assert_eq!(
            users.lookups,
            [
                lookup(&["id"], "orgexport_restore_0", &["owner_id"]),
                lookup(&["id"], "orgexport_restore_1", &["id"]),
                lookup(&["email"], "orgexport_restore_1", &["email"]),
            ]
        );
        assert_eq!(plan.sections[0].danglings[0].points.table, users.name);
        assert_eq!(plan.sections[1].read, users.name);
        // notes is not Citus's: read as it is.
        assert_eq!(
            plan.sections[0].danglings[1].points.table,
            "ONLY \"public\".\"notes\""
        );
        let companies = plan
            .mirrors
            .iter()
            .find(|m| m.table == "ONLY \"public\".\"companies\"")
            .unwrap();
        assert_eq!(plan.sections[0].read, companies.name);
        assert_eq!(plan.mirrors.len(), 2);
        let sql = users.refill();
        assert!(
            sql.contains(&format!(
                "INSERT INTO {} SELECT * FROM ONLY \"public\".\"users\" t WHERE (t.\"id\") IN (SELECT DISTINCT s.\"owner_id\" FROM orgexport_restore_0 s) OR",
                users.name
            )),
            "{sql}"
        );
    }

    #[test]
    fn without_citus_the_plan_is_unchanged() {
        let (plan, mut catalog) = plan_and_catalog();
        catalog.citus = None;
        let same = mirror_reads(plan.clone(), &catalog);
        assert!(same.mirrors.is_empty());
        assert_eq!(same.sections[0].read, plan.sections[0].read);
        assert_eq!(same.sections[0].danglings, plan.sections[0].danglings);
    }
}
