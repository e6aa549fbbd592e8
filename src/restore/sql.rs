//! The SQL of a load plan (DESIGN §9): for each section the staging table and its batch
//! insert; the checks that the staged rows are the org's (root key, tenant columns,
//! ownership); how shared rows are matched; the key maps and the rewrites through them;
//! references that point at neither the archive nor the target; conflicts with rows already in
//! the target; the insert itself and the sequences moved past what was inserted. Every
//! identifier and value goes through `db::quote_*`. What to do is `plan.rs`'s; running it is
//! `load.rs`'s.

use crate::db::{quote_ident, quote_literal};
use crate::restore::manifest::Role;
use crate::restore::model::{Dangling, LoadPlan, LoadSection, Points};

fn idents(columns: &[String], alias: &str) -> String {
    columns
        .iter()
        .map(|c| {
            if alias.is_empty() {
                quote_ident(c)
            } else {
                format!("{alias}.{}", quote_ident(c))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn equal(columns: &[String], left: &str, right_columns: &[String], right: &str) -> String {
    columns
        .iter()
        .zip(right_columns)
        .map(|(l, r)| format!("{left}.{} = {right}.{}", quote_ident(l), quote_ident(r)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn when_sql(when: &Option<(String, String)>, alias: &str) -> String {
    match when {
        Some((column, value)) => format!(
            " AND {alias}.{} = {}",
            quote_ident(column),
            quote_literal(value)
        ),
        None => String::new(),
    }
}

fn all_not_null(columns: &[String], alias: &str) -> String {
    columns
        .iter()
        .map(|c| format!("{alias}.{} IS NOT NULL", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The key map of a section: old key → new key.
pub fn map_table(section: usize) -> String {
    format!("orgexport_map_{section}")
}

/// Whether the referenced row is among the archive's staged rows / the target's rows.
fn in_archive(plan: &LoadPlan, columns: &[String], points: &Points) -> Option<String> {
    let to = &plan.sections[points.section?];
    Some(format!(
        "EXISTS (SELECT 1 FROM {} t WHERE {})",
        to.stage,
        equal(&points.columns, "t", columns, "s")
    ))
}

/// A left join (as `alias`) on the distinct staged keys that `columns` point at, and the
/// condition that a row found one: hash-joinable where `in_archive`'s `EXISTS` cannot be
/// (under `FILTER` or `OR`). Distinct, so that a hostile archive's duplicated keys cannot
/// multiply the rows counted.
fn archive_join(
    plan: &LoadPlan,
    alias: &str,
    columns: &[String],
    points: &Points,
) -> Option<(String, String)> {
    let to = &plan.sections[points.section?];
    let join = format!(
        " LEFT JOIN (SELECT DISTINCT {} FROM {}) {alias} ON {}",
        idents(&points.columns, ""),
        to.stage,
        equal(&points.columns, alias, columns, "s")
    );
    let matched = format!("{alias}.{} IS NOT NULL", quote_ident(&points.columns[0]));
    Some((join, matched))
}

fn in_target(columns: &[String], points: &Points) -> String {
    format!(
        "EXISTS (SELECT 1 FROM {} t WHERE {})",
        points.table,
        equal(&points.columns, "t", columns, "s")
    )
}

/// The rows of a shared section that will be written (the others match present rows).
const WRITTEN: &str = "s.orgexport_action IN ('insert', 'fresh')";

impl LoadSection {
    /// The staging table: the target's column types, no constraints, gone at the end. A
    /// shared section's rows also carry what matching decided and their new key.
    pub fn create_stage(&self) -> String {
        let mut sql = format!(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA",
            self.stage,
            idents(&self.columns, ""),
            self.table
        );
        if self.shared.is_some() {
            sql.push_str(&format!(
                "; ALTER TABLE {} ADD COLUMN orgexport_action text",
                self.stage
            ));
            if let (Some(key_type), [_]) = (&self.key_type, self.key.as_slice()) {
                sql.push_str(&format!(", ADD COLUMN orgexport_new {key_type}"));
            }
        }
        sql
    }

    /// One batch of rows (`$1`, a JSON array of the archive's row objects) into the stage,
    /// converted by PostgreSQL's own input functions for the target's column types. The
    /// stage may be the target table itself (`direct`, see `direct.rs`), identity columns
    /// included.
    pub fn stage_batch(&self, direct: bool) -> String {
        format!(
            "INSERT INTO {} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM json_populate_recordset(NULL::{}, $1::text::json)",
            if direct { &self.table } else { &self.stage },
            self.table,
            cols = idents(&self.columns, "")
        )
    }

    /// The root section: how many rows, how many with the archive's org key (`$1`), and
    /// the first key found.
    pub fn root_check(&self) -> Option<String> {
        let key = quote_ident(self.root_key.as_ref()?);
        Some(format!(
            "SELECT count(*), count(*) FILTER (WHERE {key}::text = $1), min({key}::text) FROM {}",
            self.stage
        ))
    }

    /// A tenant section: rows whose tenant column names another org than the root row's.
    pub fn tenant_check(&self, root: &LoadSection) -> Option<String> {
        let (column, root_column) = self.tenant.as_ref()?;
        let column = quote_ident(column);
        Some(format!(
            "SELECT count(*), min(s.{column}::text) FROM {} s \
             WHERE s.{column} IS NOT NULL \
               AND s.{column}::text IS DISTINCT FROM (SELECT r.{}::text FROM {} r)",
            self.stage,
            quote_ident(root_column),
            root.stage
        ))
    }

    /// An owned section's rows that no ownership reference ties to a row of the archive,
    /// and those an ownership reference ties to a target row of another org. Tenant rows are
    /// the org's by their tenant column; only those where it is NULL are checked.
    ///
    /// The archive side is a left join on the owner's distinct staged keys, not `EXISTS`:
    /// under `FILTER`/`OR` an `EXISTS` stays a per-row subplan, and on an unindexed stage
    /// that is a scan of the owner's stage for every row (hours for a million rows). The
    /// target side stays `EXISTS` on the target's own index and runs only for rows the
    /// archive does not own.
    pub fn ownership_check(&self, plan: &LoadPlan) -> Option<String> {
        let rows = match (&self.root_key, &self.tenant) {
            // Every row of a tenant schema's table is the org's: nothing ties it to an owner.
            _ if self.role == Role::Schema => return None,
            (Some(_), _) => return None,
            (None, Some((column, _))) => format!(" WHERE s.{} IS NULL", quote_ident(column)),
            (None, None) if self.shared.is_some() => return None,
            (None, None) => String::new(),
        };
        let mut joins = String::new();
        let mut owned = Vec::new();
        let mut foreign = Vec::new();
        for (k, owner) in self.owners.iter().enumerate() {
            let applies = format!(
                "{}{}",
                all_not_null(&owner.columns, "s"),
                when_sql(&owner.when, "s")
            );
            let staged = archive_join(plan, &format!("a{k}"), &owner.columns, &owner.points);
            owned.push(match &staged {
                Some((join, matched)) => {
                    joins.push_str(join);
                    format!("({applies} AND {matched})")
                }
                None => "false".to_string(),
            });
            foreign.push(format!(
                "({applies}{} AND {})",
                staged.map_or(String::new(), |(_, matched)| format!(" AND NOT {matched}")),
                in_target(&owner.columns, &owner.points)
            ));
        }
        let any = |terms: &[String]| {
            if terms.is_empty() {
                "false".to_string()
            } else {
                terms.join(" OR ")
            }
        };
        Some(format!(
            "SELECT count(*) FILTER (WHERE NOT ({})), count(*) FILTER (WHERE {}) FROM {} s{joins}{rows}",
            any(&owned),
            any(&foreign),
            self.stage
        ))
    }

    /// Decides each shared row: `match` (present with equal content, or the same entity by
    /// its natural key), `natural` (absent, but its natural key names another present row),
    /// `insert` (absent), `conflict-natural` (the key holds another entity; its natural key
    /// names a present row) or `conflict`.
    pub fn match_shared(&self) -> Option<String> {
        let shared = self.shared.as_ref()?;
        if self.key.is_empty() {
            return Some(format!(
                "UPDATE {} SET orgexport_action = 'insert'",
                self.stage
            ));
        }
        let same_key = equal(&self.key, "t", &self.key, "s");
        let equal_content = shared
            .compare
            .iter()
            .map(|c| {
                let c = quote_ident(c);
                format!("t.{c}::text IS NOT DISTINCT FROM s.{c}::text")
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        let exists =
            |condition: &str| format!("EXISTS (SELECT 1 FROM {} t WHERE {condition})", self.read);
        let present = exists(&same_key);
        let matched = if equal_content.is_empty() {
            present.clone()
        } else {
            exists(&format!("{same_key} AND {equal_content}"))
        };
        let (same_entity, elsewhere) = if shared.natural.is_empty() {
            ("false".to_string(), "false".to_string())
        } else {
            let natural = equal(&shared.natural, "t", &shared.natural, "s");
            (
                exists(&format!("{same_key} AND {natural}")),
                exists(&format!("{natural} AND NOT ({same_key})")),
            )
        };
        Some(format!(
            "UPDATE {} s SET orgexport_action = CASE \
               WHEN {matched} OR {same_entity} THEN 'match' \
               WHEN NOT {present} AND {elsewhere} THEN 'natural' \
               WHEN NOT {present} THEN 'insert' \
               WHEN {elsewhere} THEN 'conflict-natural' \
               ELSE 'conflict' END",
            self.stage
        ))
    }

    /// With `--remap-keys`: shared rows whose key holds another entity are matched through
    /// their natural key when it names a present row, or get fresh keys from `source` (a
    /// sequence name) when the key is fed by one.
    pub fn resolve_shared_conflicts(&self, fresh_source: Option<&str>) -> Vec<String> {
        let mut sql = vec![format!(
            "UPDATE {} SET orgexport_action = 'natural' WHERE orgexport_action = 'conflict-natural'",
            self.stage
        )];
        if fresh_source.is_some() {
            sql.push(format!(
                "UPDATE {} SET orgexport_action = 'fresh' WHERE orgexport_action = 'conflict'",
                self.stage
            ));
        }
        sql
    }

    /// The new key of each shared row: the present row's for `natural`, a fresh one for
    /// `fresh`, its own otherwise.
    pub fn shared_new_keys(&self, fresh_source: Option<&str>) -> Option<String> {
        let shared = self.shared.as_ref()?;
        let [key] = self.key.as_slice() else {
            return None;
        };
        self.key_type.as_ref()?;
        let key = quote_ident(key);
        let natural = if shared.natural.is_empty() {
            "NULL".to_string()
        } else {
            format!(
                "(SELECT t.{key} FROM {} t WHERE {} LIMIT 1)",
                self.read,
                equal(&shared.natural, "t", &shared.natural, "s")
            )
        };
        let fresh = fresh_source.map_or("NULL".to_string(), |source| {
            format!("nextval({})", quote_literal(source))
        });
        Some(format!(
            "UPDATE {} s SET orgexport_new = CASE orgexport_action \
               WHEN 'natural' THEN {natural} WHEN 'fresh' THEN {fresh} ELSE s.{key} END",
            self.stage
        ))
    }

    /// Shared rows still in conflict: up to 5 keys and how many in all.
    pub fn shared_conflicts(&self) -> Option<String> {
        self.shared.as_ref()?;
        Some(format!(
            "SELECT {}, count(*) OVER () FROM {} s WHERE orgexport_action LIKE 'conflict%' LIMIT 5",
            self.key_text(),
            self.stage
        ))
    }

    fn key_text(&self) -> String {
        self.key
            .iter()
            .map(|k| format!("s.{}::text", quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" || ', ' || ")
    }

    /// The key map: fresh keys for remapped owned rows (from `source`, in the order of the
    /// old keys), or the changed keys of a shared section.
    pub fn create_map(&self, index: usize, source: Option<&str>) -> Option<String> {
        let map = map_table(index);
        let select = match (&self.remap, &self.shared) {
            (Some(remap), _) => format!(
                "SELECT old, nextval({})::{} AS new FROM (SELECT {} AS old FROM {} ORDER BY 1) o",
                quote_literal(source.unwrap_or(&remap.sequence)),
                remap.type_name,
                quote_ident(&remap.column),
                self.stage
            ),
            (None, Some(_)) => {
                let key = quote_ident(self.map_column()?);
                format!(
                    "SELECT {key} AS old, orgexport_new AS new FROM {} WHERE orgexport_new IS DISTINCT FROM {key}",
                    self.stage
                )
            }
            (None, None) => return None,
        };
        Some(format!(
            "CREATE TEMP TABLE {map} ON COMMIT DROP AS {select}; \
             ALTER TABLE {map} ADD PRIMARY KEY (old); ANALYZE {map}"
        ))
    }

    /// Rewrites the staged rows' own mapped key and the columns that point at mapped keys.
    pub fn rewrite_statements(&self, index: usize) -> Vec<String> {
        let own = self
            .map_column()
            .map(|column| (column.to_string(), None, index));
        own.into_iter()
            .chain(
                self.rewrites
                    .iter()
                    .map(|w| (w.column.clone(), w.when.clone(), w.map)),
            )
            .map(|(column, when, map)| {
                let column = quote_ident(&column);
                format!(
                    "UPDATE {} s SET {column} = m.new FROM {} m WHERE s.{column} = m.old{}",
                    self.stage,
                    map_table(map),
                    when_sql(&when, "s")
                )
            })
            .collect()
    }

    /// The staged rows (that will be written) whose reference points at a row of neither the
    /// archive nor the target.
    fn dangling_rows(&self, dangling: &Dangling, plan: &LoadPlan) -> String {
        let mut condition = format!(
            "{}{}",
            all_not_null(&dangling.columns, "s"),
            when_sql(&dangling.when, "s")
        );
        if let Some(staged) = in_archive(plan, &dangling.columns, &dangling.points) {
            condition.push_str(&format!(" AND NOT {staged}"));
        }
        condition.push_str(&format!(
            " AND NOT {}",
            in_target(&dangling.columns, &dangling.points)
        ));
        if self.shared.is_some() {
            condition.push_str(&format!(" AND {WRITTEN}"));
        }
        condition
    }

    pub fn count_dangling(&self, dangling: &Dangling, plan: &LoadPlan) -> String {
        format!(
            "SELECT count(*) FROM {} s WHERE {}",
            self.stage,
            self.dangling_rows(dangling, plan)
        )
    }

    pub fn clear_dangling(&self, dangling: &Dangling, plan: &LoadPlan) -> String {
        let sets: Vec<String> = dangling
            .nullable
            .iter()
            .map(|c| format!("{} = NULL", quote_ident(c)))
            .collect();
        format!(
            "UPDATE {} s SET {} WHERE {}",
            self.stage,
            sets.join(", "),
            self.dangling_rows(dangling, plan)
        )
    }

    /// Shared rows that match present rows: not written.
    pub fn delete_matched(&self) -> Option<String> {
        self.shared.as_ref()?;
        Some(format!(
            "DELETE FROM {} WHERE orgexport_action IN ('match', 'natural')",
            self.stage
        ))
    }

    /// Staged owned rows whose key the target already holds: up to 5 keys and how many.
    pub fn conflicts(&self) -> Option<String> {
        if self.key.is_empty() || self.shared.is_some() {
            return None;
        }
        Some(format!(
            "SELECT {}, count(*) OVER () FROM {} s WHERE EXISTS (SELECT 1 FROM {} t WHERE {}) LIMIT 5",
            self.key_text(),
            self.stage,
            self.read,
            equal(&self.key, "t", &self.key, "s")
        ))
    }

    /// The insert of the staged rows (shared rows that matched are gone from the stage).
    pub fn insert(&self) -> String {
        let mut columns = self.columns.clone();
        let mut values = vec![idents(&self.columns, "s")];
        for (column, sql) in &self.fills {
            columns.push(column.clone());
            values.push(format!("({sql})"));
        }
        let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
        format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} s",
            self.table,
            idents(&columns, ""),
            values
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.stage
        )
    }

    /// Moves each sequence past the largest value now in its column.
    pub fn advance_sequences(&self) -> Vec<String> {
        self.sequences
            .iter()
            .map(|(column, sequence)| {
                format!(
                    "SELECT setval({}, m) FROM (SELECT max({})::bigint AS m FROM {}) x \
                     WHERE m >= (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {sequence})",
                    quote_literal(sequence),
                    quote_ident(column),
                    self.table
                )
            })
            .collect()
    }
}

/// One statement inserting a group of sections: a single insert, or writable CTEs whose
/// foreign-key checks all run at the end of the one statement (a cycle of NOT NULL,
/// non-deferrable references loads this way). Returns the rows inserted per section.
pub fn insert_group(plan: &LoadPlan, group: &[usize]) -> String {
    let ctes: Vec<String> = group
        .iter()
        .map(|&i| format!("i{i} AS ({} RETURNING 1)", plan.sections[i].insert()))
        .collect();
    let counts: Vec<String> = group
        .iter()
        .map(|&i| format!("(SELECT count(*) FROM i{i})"))
        .collect();
    format!("WITH {} SELECT {}", ctes.join(", "), counts.join(", "))
}
