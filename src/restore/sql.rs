//! The SQL of a load plan (DESIGN §9): for each section the staging table and its batch
//! insert, the key maps of remapped keys and the rewrites through them, the checks and clears
//! of references that leave the archive, conflicts with rows already in the target, the
//! insert itself (shared rows matched, not duplicated) and the sequences moved past what was
//! inserted. Every identifier and value goes through `db::quote_*`. What to do is `plan.rs`'s;
//! running it is `load.rs`'s.

use crate::db::{quote_ident, quote_literal};
use crate::restore::manifest::Role;
use crate::restore::plan::{Clear, LoadPlan, LoadSection, Rewrite};

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

/// The key map of a remapped section: old key → fresh key.
pub fn map_table(section: usize) -> String {
    format!("orgexport_map_{section}")
}

impl LoadSection {
    /// The staging table: the target's column types, no constraints, gone at the end.
    pub fn create_stage(&self) -> String {
        format!(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA",
            self.stage,
            idents(&self.columns, ""),
            self.table
        )
    }

    /// One batch of rows (`$1`, a JSON array of the archive's row objects) into the stage,
    /// converted by PostgreSQL's own input functions for the target's column types.
    pub fn stage_batch(&self) -> String {
        format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{}, $1::text::json)",
            self.stage,
            self.table,
            cols = idents(&self.columns, "")
        )
    }

    /// Fresh keys from the target's sequence, handed out in the order of the old keys.
    pub fn create_map(&self, index: usize) -> Option<String> {
        let remap = self.remap.as_ref()?;
        let map = map_table(index);
        Some(format!(
            "CREATE TEMP TABLE {map} ON COMMIT DROP AS \
             SELECT old, nextval({})::{} AS new FROM (SELECT {} AS old FROM {} ORDER BY 1) o; \
             ALTER TABLE {map} ADD PRIMARY KEY (old); ANALYZE {map}",
            quote_literal(&remap.sequence),
            remap.type_name,
            quote_ident(&remap.column),
            self.stage
        ))
    }

    /// Rewrites the staged rows' remapped key and the columns that point at remapped keys.
    pub fn rewrite_statements(&self, index: usize) -> Vec<String> {
        let own = self.remap.as_ref().map(|remap| Rewrite {
            column: remap.column.clone(),
            when: None,
            map: index,
        });
        own.iter()
            .chain(&self.rewrites)
            .map(|w| {
                let column = quote_ident(&w.column);
                format!(
                    "UPDATE {} s SET {column} = m.new FROM {} m WHERE s.{column} = m.old{}",
                    self.stage,
                    map_table(w.map),
                    when_sql(&w.when, "s")
                )
            })
            .collect()
    }

    /// The staged rows whose reference `clear` points at no row of the archive.
    pub fn dangling(&self, clear: &Clear, target: &LoadSection) -> String {
        let not_null: Vec<String> = clear
            .columns
            .iter()
            .map(|c| format!("s.{} IS NOT NULL", quote_ident(c)))
            .collect();
        format!(
            "{}{} AND NOT EXISTS (SELECT 1 FROM {} t WHERE {})",
            not_null.join(" AND "),
            when_sql(&clear.when, "s"),
            target.stage,
            equal(&clear.target_columns, "t", &clear.columns, "s")
        )
    }

    pub fn count_dangling(&self, clear: &Clear, target: &LoadSection) -> String {
        format!(
            "SELECT count(*) FROM {} s WHERE {}",
            self.stage,
            self.dangling(clear, target)
        )
    }

    pub fn clear_dangling(&self, clear: &Clear, target: &LoadSection) -> String {
        let sets: Vec<String> = clear
            .nullable
            .iter()
            .map(|c| format!("{} = NULL", quote_ident(c)))
            .collect();
        format!(
            "UPDATE {} s SET {} WHERE {}",
            self.stage,
            sets.join(", "),
            self.dangling(clear, target)
        )
    }

    /// Staged rows whose key the target already holds: up to 5 keys and how many in all.
    pub fn conflicts(&self) -> Option<String> {
        if self.key.is_empty() {
            return None;
        }
        let key_text = self
            .key
            .iter()
            .map(|k| format!("s.{}::text", quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" || ', ' || ");
        Some(format!(
            "SELECT {key_text}, count(*) OVER () FROM {} s WHERE {} LIMIT 5",
            self.stage,
            self.exists_in_target()
        ))
    }

    fn exists_in_target(&self) -> String {
        format!(
            "EXISTS (SELECT 1 FROM {} t WHERE {})",
            self.read,
            equal(&self.key, "t", &self.key, "s")
        )
    }

    /// The insert of the staged rows; shared rows (`P`) already present are skipped.
    pub fn insert(&self) -> String {
        let mut columns = self.columns.clone();
        let mut values = vec![idents(&self.columns, "s")];
        for (column, sql) in &self.fills {
            columns.push(column.clone());
            values.push(format!("({sql})"));
        }
        let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
        let skip_present = if self.role == Role::Referenced && !self.key.is_empty() {
            format!(" WHERE NOT {}", self.exists_in_target())
        } else {
            String::new()
        };
        format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} s{skip_present}",
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
