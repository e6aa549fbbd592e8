//! What a load plan is made of (DESIGN §9): per section, where its rows go and how they are
//! staged, how they are proven to be the org's, how shared rows are matched, which keys get
//! fresh values and which references follow them or must resolve; and the order the groups of
//! sections load in. Plain values: `plan.rs` and `links.rs` compute them, `sql.rs` turns them
//! into SQL, `load.rs` carries them out.

use crate::config::Fill;
use crate::restore::manifest::Role;

pub struct Options<'a> {
    pub remap_keys: bool,
    /// Exact `--fill` entries (globs and `--fill-secrets` already expanded).
    pub fills: &'a [Fill],
}

/// An integer key whose fresh values come from the target's sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    pub column: String,
    pub type_name: String,
    pub sequence: String,
}

/// A column that holds keys of a section with a key map (`map`): rewritten through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub column: String,
    pub when: Option<(String, String)>,
    pub map: usize,
}

/// Where a reference points: a section of the archive (its staged rows) and/or the target's
/// table (its existing rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Points {
    pub section: Option<usize>,
    /// The referenced table as read (`ONLY "s"."t"`).
    pub table: String,
    pub columns: Vec<String>,
}

/// A reference whose values must point at a row of the archive or of the target. A value
/// pointing at neither is cleared when the reference is a declared foreign key (the insert
/// would fail otherwise) and its columns allow NULL; kept as it was and reported when the
/// reference exists only by configuration or inference (a restore is never stricter than the
/// target's own constraints); an error otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangling {
    pub columns: Vec<String>,
    pub nullable: Vec<String>,
    pub when: Option<(String, String)>,
    pub points: Points,
    pub declared: bool,
}

/// An ownership reference of an owned row (DESIGN §2): the row belongs to the org when one
/// of them points at a row of the archive, and to another org when one points at a target
/// row the archive does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub columns: Vec<String>,
    pub when: Option<(String, String)>,
    pub points: Points,
}

/// How the shared rows of a `P` section meet the target's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// Columns whose values must be equal for a present row to match: all staged columns but
    /// those that reference the org's own rows (org-relative values).
    pub compare: Vec<String>,
    /// A unique natural key (an e-mail) held whole by the archive, if the target has one:
    /// the same natural key is the same entity.
    pub natural: Vec<String>,
    /// Where fresh keys come from for rows whose key the target holds with other content
    /// (`--remap-keys`).
    pub fresh: Option<Remap>,
}

#[derive(Debug, Clone)]
pub struct LoadSection {
    pub name: String,
    pub role: Role,
    /// `"schema"."table"`: where rows go.
    pub table: String,
    /// How the target's existing rows are read (`ONLY` for old-style inheritance parents).
    pub read: String,
    /// The session's temporary staging table.
    pub stage: String,
    /// The archive's columns that are inserted (generated ones are recomputed instead).
    pub columns: Vec<String>,
    /// Their types in the target, for the staging table's extra columns.
    pub key_type: Option<String>,
    /// `--fill` columns and their SQL.
    pub fills: Vec<(String, String)>,
    /// Primary key, when the archive holds all of it: how existing rows are recognised.
    pub key: Vec<String>,
    /// Root section: the key column the archive's org key must equal.
    pub root_key: Option<String>,
    /// Tenant sections: the tenant column and the root column its values must equal.
    pub tenant: Option<(String, String)>,
    pub owners: Vec<Owner>,
    /// Owned rows with `--remap-keys`: every key gets a fresh value.
    pub remap: Option<Remap>,
    /// `P` sections.
    pub shared: Option<Shared>,
    /// Columns fed by a sequence: the sequence is moved past the restored values.
    pub sequences: Vec<(String, String)>,
    pub rewrites: Vec<Rewrite>,
    pub danglings: Vec<Dangling>,
}

impl LoadSection {
    /// The column whose values a key map translates: the remapped key, or a shared section's
    /// single-column key (shared rows may be matched to, or re-keyed as, other target rows).
    pub fn map_column(&self) -> Option<&str> {
        match (&self.remap, &self.shared, self.key.as_slice()) {
            (Some(remap), _, _) => Some(&remap.column),
            (None, Some(_), [key]) => Some(key),
            _ => None,
        }
    }
}

/// On a Citus target (`citus.rs`): a temporary copy of the rows of one Citus table that the
/// restore's checks can look up, read instead of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The temporary table.
    pub name: String,
    /// The Citus table as read (`ONLY "s"."t"`).
    pub table: String,
    /// `(columns of the table, stage, staged columns)`: a target row is mirrored when its
    /// columns equal a staged row's.
    pub lookups: Vec<(Vec<String>, String, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// In archive order.
    pub sections: Vec<LoadSection>,
    /// Groups of sections loaded by one statement each, referenced groups first.
    pub order: Vec<Vec<usize>>,
    /// Every section staged in its own (empty, locked) target table (`direct.rs`): staging is
    /// the insert, and there are no target rows besides the archive's to conflict with.
    pub direct: bool,
    /// On a Citus target, the temporary copies of the Citus tables whose rows the checks
    /// read (`citus.rs`); empty otherwise.
    pub mirrors: Vec<Mirror>,
}

impl LoadPlan {
    pub fn root(&self) -> Option<usize> {
        self.sections.iter().position(|s| s.role == Role::Root)
    }
}
