//! What `restore` must know about the target's tables beyond [`Catalog`]: each column's
//! default, whether it is generated or an identity, and the sequence that feeds it; and its
//! unique natural keys.

use std::collections::HashMap;

use anyhow::Context;
use tokio_postgres::Client;

use crate::scope::catalog::Catalog;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    pub name: String,
    pub type_name: String,
    pub not_null: bool,
    pub has_default: bool,
    /// `GENERATED ALWAYS AS (…) STORED`: recomputed, never inserted.
    pub generated: bool,
    pub identity: bool,
    /// The sequence behind a serial, identity or `nextval` default (regclass text).
    pub sequence: Option<String>,
}

impl TargetColumn {
    /// Whether an insert that leaves the column out still succeeds.
    pub fn may_be_omitted(&self) -> bool {
        !self.not_null || self.has_default || self.generated || self.identity
    }
}

/// Columns of the named tables (`schema.table`), by name; tables the catalog lacks are absent.
pub async fn load(
    client: &Client,
    catalog: &Catalog,
    names: &[&str],
) -> anyhow::Result<HashMap<String, Vec<TargetColumn>>> {
    let (schemas, tables): (Vec<&str>, Vec<&str>) = names
        .iter()
        .filter_map(|n| catalog.find(n).map(|id| catalog.table(id)))
        .map(|t| (t.schema.as_str(), t.name.as_str()))
        .unzip();
    let rows = client
        .query(
            "SELECT s.schema, s.name, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                    a.attnotnull, a.atthasdef, a.attgenerated <> '', a.attidentity <> '', \
                    coalesce(pg_get_serial_sequence(c.oid::regclass::text, a.attname), \
                             (SELECT d.refobjid::regclass::text FROM pg_attrdef ad \
                                JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass \
                                 AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass \
                                JOIN pg_class q ON q.oid = d.refobjid AND q.relkind = 'S' \
                               WHERE ad.adrelid = c.oid AND ad.adnum = a.attnum LIMIT 1)) \
             FROM unnest($1::text[], $2::text[]) AS s(schema, name) \
             JOIN pg_namespace n ON n.nspname = s.schema \
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY s.schema, s.name, a.attnum",
            &[&schemas, &tables],
        )
        .await
        .context("reading the target's columns")?;
    let mut columns: HashMap<String, Vec<TargetColumn>> = HashMap::new();
    for row in rows {
        let table = format!("{}.{}", row.get::<_, &str>(0), row.get::<_, &str>(1));
        columns.entry(table).or_default().push(TargetColumn {
            name: row.get(2),
            type_name: row.get(3),
            not_null: row.get(4),
            has_default: row.get(5),
            generated: row.get(6),
            identity: row.get(7),
            sequence: row.get(8),
        });
    }
    Ok(columns)
}

/// Unique natural keys of the named tables (`schema.table`): the columns of each unique,
/// non-partial, plain-column index other than the primary key, most selective (fewest
/// columns) first. Shared rows are matched through them.
pub async fn natural_keys(
    client: &Client,
    names: &[&str],
) -> anyhow::Result<HashMap<String, Vec<Vec<String>>>> {
    let rows = client
        .query(
            "SELECT n.nspname || '.' || c.relname, \
                    array_agg(a.attname::text ORDER BY k.ord) \
             FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             WHERE i.indisunique AND NOT i.indisprimary AND i.indpred IS NULL \
               AND i.indexprs IS NULL AND i.indisvalid \
               AND n.nspname || '.' || c.relname = ANY($1) \
             GROUP BY 1, i.indexrelid \
             ORDER BY 1, count(*), i.indexrelid",
            &[&names],
        )
        .await
        .context("reading the target's unique keys")?;
    let mut keys: HashMap<String, Vec<Vec<String>>> = HashMap::new();
    for row in rows {
        keys.entry(row.get(0)).or_default().push(row.get(1));
    }
    Ok(keys)
}
