//! Reads `pg_catalog` into a plain [`Catalog`] value: tables (with their kind, columns,
//! primary key, indexes and row estimates) and foreign keys. A handful of queries whatever the
//! number of tables. What the tables *mean* for an org is `rules.rs`'s business.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use tokio_postgres::Client;

/// Base type names (`pg_type.typname`) of the columns that can hold a secret (DESIGN §3).
const TEXT_LIKE_TYPES: &[&str] = &[
    "text", "varchar", "bpchar", "char", "name", "bytea", "json", "jsonb", "citext", "xml",
];

/// Base type names whose rendered values have keys (or elements) that may need redacting.
const KEYED_TYPES: &[&str] = &["json", "jsonb", "xml"];

/// Index of a table in [`Catalog::tables`].
pub type TableId = usize;
/// Index of a foreign key in [`Catalog::foreign_keys`].
pub type FkId = usize;

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tables: Vec<Table>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Citus's metadata, when the `citus` extension is installed (DESIGN §11).
    pub citus: Option<Citus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelKind {
    /// An ordinary table. Read with `ONLY`, because rows of old-style inheritance children
    /// belong to those children, which are tables of their own.
    Table,
    /// A partitioned table: one section, read through the parent (its partitions are not
    /// listed in the catalog at all).
    Partitioned,
    View,
    MaterializedView,
    Foreign,
}

impl RelKind {
    pub fn holds_data(self) -> bool {
        matches!(self, RelKind::Table | RelKind::Partitioned)
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub kind: RelKind,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    /// The leading column of each index (for "tenant column without an index" warnings).
    pub indexed_leading_columns: Vec<String>,
    /// `pg_class.reltuples` (summed over partitions); `None` when never analyzed.
    pub estimated_rows: Option<i64>,
    /// Validated CHECK constraints, as `pg_get_constraintdef` prints them (`CHECK ((…))`):
    /// where "NOT NULL" and "exactly one of" are written without `attnotnull`.
    pub checks: Vec<String>,
    /// Row-level security would hide rows from the current role: enabled (or forced) and the
    /// role neither owns the table, nor is superuser, nor has BYPASSRLS.
    pub row_security_blocks: bool,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// `format_type()`: usable as a cast target in generated SQL.
    pub type_name: String,
    /// `pg_type` OID (domains keep their own OID): decides how a value is rendered.
    pub type_oid: u32,
    pub not_null: bool,
    /// text, varchar, char, bytea, json, jsonb, citext, xml (or a domain or array of these): the
    /// types that can hold a secret (DESIGN §3).
    pub text_like: bool,
    /// json, jsonb, xml or a composite type (or a domain or array of these): keys, elements
    /// or attributes may need redacting.
    pub json_like: bool,
    /// A generated column: the columns its expression reads (`pg_depend` of its
    /// `pg_attrdef`); empty for other columns.
    pub generated_from: Vec<String>,
    /// `attndims`: an array column's declared dimensions (`int[][]`: 2), not enforced by
    /// PostgreSQL; 0 for other columns. Parquet writes only one-dimensional ones as lists.
    pub dimensions: i32,
}

#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub name: String,
    pub table: TableId,
    pub columns: Vec<String>,
    pub referenced: TableId,
    pub referenced_columns: Vec<String>,
}

impl Table {
    /// `schema.table`, unquoted: the section name.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// `ONLY "schema"."table"` or `"schema"."table"`: how generated SQL reads this table.
    pub fn from_clause(&self) -> String {
        let name = crate::db::quote_qualified(&self.schema, &self.name);
        match self.kind {
            RelKind::Table => format!("ONLY {name}"),
            _ => name,
        }
    }
}

impl Catalog {
    pub fn table(&self, id: TableId) -> &Table {
        &self.tables[id]
    }

    pub fn find(&self, qualified: &str) -> Option<TableId> {
        self.tables
            .iter()
            .position(|t| t.qualified_name() == qualified)
    }

    /// Reads the catalog of the current database (system schemas left out).
    pub async fn load(client: &Client) -> anyhow::Result<Catalog> {
        let mut catalog = Catalog::default();
        let by_oid = read_tables(client, &mut catalog).await?;
        let oids: Vec<i64> = by_oid.keys().copied().collect();
        read_columns(client, &mut catalog, &by_oid, &oids).await?;
        read_indexes(client, &mut catalog, &by_oid, &oids).await?;
        read_checks(client, &mut catalog, &by_oid, &oids).await?;
        read_foreign_keys(client, &mut catalog, &by_oid).await?;
        catalog.citus = Citus::load(client, &catalog).await?;
        Ok(catalog)
    }
}

/// The relations listed: tables, partitioned tables, views, materialized views and foreign
/// tables outside the system schemas; partitions are read through their parent. The queries
/// after [`read_tables`] start from the OIDs it found ([`LISTED`]), so they all see the same
/// tables, and `pg_class` is scanned once (30,000 rows with 10,000 partitions: ~20 ms a scan).
const RELS: &str = "SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples, \
                    c.relrowsecurity, c.relforcerowsecurity, c.relowner \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// The tables [`read_tables`] listed, from their OIDs (`$1`): a CTE for the queries after it.
const LISTED: &str = "SELECT unnest($1::int8[])::oid AS oid";

/// `pg_class` OID → the table's index in [`Catalog::tables`].
type TablesByOid = HashMap<i64, TableId>;

/// The tables with their kind, row estimate and whether row-level security hides rows.
async fn read_tables(client: &Client, catalog: &mut Catalog) -> anyhow::Result<TablesByOid> {
    let rels = client
        .query(
            &format!(
                // One grouped pass over the leaf partitions (a per-table
                // pg_partition_tree cost 0.5 s with 10,000 partitions), found down from
                // the roots by pg_inherits' parent index (with pg_partition_root per
                // partition the query took 0.3-0.5 s, this way 0.08-0.17 s).
                "WITH RECURSIVE rels AS ({RELS}), \
                      tree(root, oid) AS (SELECT r.oid, r.oid FROM rels r WHERE r.relkind = 'p' \
                          UNION ALL SELECT t.root, i.inhrelid FROM tree t \
                                      JOIN pg_inherits i ON i.inhparent = t.oid), \
                      leaves AS (SELECT t.root, sum(greatest(c.reltuples, 0))::float8 AS rows \
                                   FROM tree t JOIN pg_class c ON c.oid = t.oid \
                                  WHERE c.relkind = 'r' GROUP BY 1) \
                 SELECT r.oid::int8, r.nspname::text, r.relname::text, r.relkind::text, \
                        CASE WHEN r.relkind = 'p' THEN coalesce(l.rows, 0) \
                        ELSE r.reltuples::float8 END, \
                        r.relrowsecurity AND NOT me.rolsuper AND NOT me.rolbypassrls \
                          AND (r.relforcerowsecurity OR NOT pg_has_role(r.relowner, 'USAGE')) \
                 FROM rels r LEFT JOIN leaves l ON l.root = r.oid, \
                      (SELECT rolsuper, rolbypassrls FROM pg_roles \
                        WHERE rolname = current_user) me \
                 ORDER BY 2, 3"
            ),
            &[],
        )
        .await
        .context("reading tables from pg_class")?;
    let mut by_oid = TablesByOid::new();
    for row in rels {
        let kind = match row.get::<_, String>(3).as_str() {
            "r" => RelKind::Table,
            "p" => RelKind::Partitioned,
            "v" => RelKind::View,
            "m" => RelKind::MaterializedView,
            _ => RelKind::Foreign,
        };
        let estimate: Option<f64> = row.get(4);
        by_oid.insert(row.get(0), catalog.tables.len());
        catalog.tables.push(Table {
            schema: row.get(1),
            name: row.get(2),
            kind,
            columns: Vec::new(),
            primary_key: Vec::new(),
            indexed_leading_columns: Vec::new(),
            estimated_rows: estimate.filter(|e| *e >= 0.0).map(|e| e as i64),
            checks: Vec::new(),
            row_security_blocks: row.get(5),
        });
    }
    Ok(by_oid)
}

/// Columns in table order, with their type and the base type that decides `text_like` and
/// `json_like` (through domains and arrays).
async fn read_columns(
    client: &Client,
    catalog: &mut Catalog,
    by_oid: &TablesByOid,
    oids: &[i64],
) -> anyhow::Result<()> {
    let columns = client
        .query(
            &format!(
                // The base types are resolved once per distinct type (by index), not joined to
                // every attribute: each partition has a row type, and hashing all of pg_type
                // three times cost ~40 ms with 10,000 partitions.
                "WITH rels AS ({LISTED}), \
                      atts AS MATERIALIZED (SELECT a.attrelid, a.attnum, a.attname, a.atttypid, \
                              a.atttypmod, a.attnotnull, a.attgenerated, a.attndims \
                         FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid \
                        WHERE a.attnum > 0 AND NOT a.attisdropped), \
                      types AS (SELECT t.oid, coalesce(eb.typname, b.typname)::text AS base, \
                              coalesce(eb.typtype, b.typtype) = 'c' AS composite \
                         FROM (SELECT DISTINCT atttypid AS oid FROM atts) t \
                         JOIN pg_type ty ON ty.oid = t.oid \
                         JOIN pg_type b ON b.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END \
                         LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A' \
                         LEFT JOIN pg_type eb ON eb.oid = CASE WHEN e.typtype = 'd' THEN e.typbasetype ELSE e.oid END) \
                 SELECT a.attrelid::int8, a.attname::text, \
                        format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atttypid::int8, \
                        t.base, t.composite, \
                        CASE WHEN a.attgenerated <> '' THEN ARRAY( \
                          SELECT ra.attname::text FROM pg_attrdef ad \
                          JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid \
                           AND d.refclassid = 'pg_class'::regclass AND d.refobjid = ad.adrelid \
                           AND d.refobjsubid > 0 \
                          JOIN pg_attribute ra ON ra.attrelid = ad.adrelid AND ra.attnum = d.refobjsubid \
                          WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum ORDER BY ra.attnum) \
                        ELSE '{{}}'::text[] END, \
                        a.attndims::int4 \
                 FROM atts a JOIN types t ON t.oid = a.atttypid \
                 ORDER BY a.attrelid, a.attnum"
            ),
            &[&oids],
        )
        .await
        .context("reading columns from pg_attribute")?;
    for row in columns {
        if let Some(&id) = by_oid.get(&row.get::<_, i64>(0)) {
            let base: String = row.get(5);
            // A composite value renders as an object: its attributes are redacted like json
            // keys, and its name is judged like a text column's.
            let composite: bool = row.get(6);
            catalog.tables[id].columns.push(Column {
                name: row.get(1),
                type_name: row.get(2),
                not_null: row.get(3),
                type_oid: row.get::<_, i64>(4) as u32,
                text_like: composite || TEXT_LIKE_TYPES.contains(&base.as_str()),
                json_like: composite || KEYED_TYPES.contains(&base.as_str()),
                generated_from: row.get(7),
                dimensions: row.get(8),
            });
        }
    }
    Ok(())
}

/// The primary key, and the leading column of every index.
async fn read_indexes(
    client: &Client,
    catalog: &mut Catalog,
    by_oid: &TablesByOid,
    oids: &[i64],
) -> anyhow::Result<()> {
    let indexes = client
        .query(
            &format!(
                "WITH rels AS ({LISTED}) \
                 SELECT i.indrelid::int8, i.indisprimary, \
                        ARRAY(SELECT a.attname::text \
                                FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) \
                                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                               ORDER BY k.ord) \
                 FROM pg_index i JOIN rels r ON r.oid = i.indrelid \
                 WHERE i.indkey[0] <> 0"
            ),
            &[&oids],
        )
        .await
        .context("reading indexes from pg_index")?;
    for row in indexes {
        if let Some(&id) = by_oid.get(&row.get::<_, i64>(0)) {
            let columns: Vec<String> = row.get(2);
            let table = &mut catalog.tables[id];
            if row.get::<_, bool>(1) {
                table.primary_key = columns.clone();
            }
            if let Some(first) = columns.into_iter().next() {
                table.indexed_leading_columns.push(first);
            }
        }
    }
    Ok(())
}

/// Validated CHECK constraints, by name within each table.
async fn read_checks(
    client: &Client,
    catalog: &mut Catalog,
    by_oid: &TablesByOid,
    oids: &[i64],
) -> anyhow::Result<()> {
    let checks = client
        .query(
            &format!(
                "WITH rels AS ({LISTED}) \
                 SELECT con.conrelid::int8, pg_get_constraintdef(con.oid) \
                 FROM pg_constraint con JOIN rels r ON r.oid = con.conrelid \
                 WHERE con.contype = 'c' AND con.convalidated \
                 ORDER BY con.conrelid, con.conname"
            ),
            &[&oids],
        )
        .await
        .context("reading CHECK constraints from pg_constraint")?;
    for row in checks {
        if let Some(&id) = by_oid.get(&row.get::<_, i64>(0)) {
            catalog.tables[id].checks.push(row.get(1));
        }
    }
    Ok(())
}

/// Declared foreign keys between listed tables.
async fn read_foreign_keys(
    client: &Client,
    catalog: &mut Catalog,
    by_oid: &TablesByOid,
) -> anyhow::Result<()> {
    // conparentid = 0: the constraint as declared, not its clones on partitions.
    let fks = client
        .query(
            "SELECT con.conname::text, con.conrelid::int8, con.confrelid::int8, \
                    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, ord) \
                            JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n \
                           ORDER BY k.ord), \
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, ord) \
                            JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n \
                           ORDER BY k.ord) \
             FROM pg_constraint con \
             WHERE con.contype = 'f' AND con.conparentid = 0 \
             ORDER BY con.conrelid, con.conname",
            &[],
        )
        .await
        .context("reading foreign keys from pg_constraint")?;
    for row in fks {
        let (Some(&table), Some(&referenced)) = (
            by_oid.get(&row.get::<_, i64>(1)),
            by_oid.get(&row.get::<_, i64>(2)),
        ) else {
            continue;
        };
        catalog.foreign_keys.push(ForeignKey {
            name: row.get(0),
            table,
            columns: row.get(3),
            referenced,
            referenced_columns: row.get(4),
        });
    }
    Ok(())
}

/// How Citus stores one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CitusKind {
    /// Hash-distributed by `column`; tables of one `colocation` group keep the rows of one
    /// distribution value on one node.
    Distributed { column: String, colocation: i32 },
    /// Replicated to every node: shared rows.
    Reference,
    /// One shard, no distribution column: a table of a distributed schema (schema-based
    /// sharding) or a single-shard distributed table.
    SingleShard { colocation: i32 },
    /// Kept on the coordinator only (`citus_add_local_table_to_metadata`).
    Local,
}

impl CitusKind {
    /// `distributed by company_id`, `reference table`, …: what `plan` shows per table.
    pub fn describe(&self) -> String {
        match self {
            CitusKind::Distributed { column, colocation } => {
                format!("distributed by {column} (colocation group {colocation})")
            }
            CitusKind::Reference => "reference table (replicated to every node)".to_string(),
            CitusKind::SingleShard { colocation } => {
                format!("single shard (colocation group {colocation})")
            }
            CitusKind::Local => "Citus local table (coordinator only)".to_string(),
        }
    }
}

/// The Citus metadata of the catalog's tables; tables Citus does not know are plain
/// PostgreSQL tables of the coordinator.
#[derive(Debug, Clone, Default)]
pub struct Citus {
    pub kinds: BTreeMap<TableId, CitusKind>,
    /// Schemas distributed as a unit (`pg_dist_schema`: schema-based sharding), by name.
    pub distributed_schemas: Vec<String>,
}

impl Citus {
    /// Reads `pg_dist_partition` when the `citus` extension is installed in this database.
    pub async fn load(client: &Client, catalog: &Catalog) -> anyhow::Result<Option<Citus>> {
        let installed = client
            .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'citus'", &[])
            .await
            .context("looking for the citus extension")?
            .is_some();
        if !installed {
            return Ok(None);
        }
        // partmethod 'h': hash-distributed; 'n' with repmodel 't': reference table; 'n' with a
        // colocation group: single shard; 'n' otherwise: Citus local table.
        let rows = client
            .query(
                "SELECT n.nspname::text, c.relname::text, p.partmethod::text, p.repmodel::text, \
                        p.colocationid, \
                        CASE WHEN p.partmethod = 'h' \
                             THEN column_to_column_name(p.logicalrelid, p.partkey) END \
                 FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace",
                &[],
            )
            .await
            .context("reading Citus's pg_dist_partition")?;
        let mut kinds = BTreeMap::new();
        for row in rows {
            let name = format!("{}.{}", row.get::<_, String>(0), row.get::<_, String>(1));
            let Some(table) = catalog.find(&name) else {
                continue;
            };
            let colocation: i32 = row.get(4);
            let kind = match (row.get::<_, String>(2).as_str(), row.get::<_, String>(3)) {
                ("h", _) => CitusKind::Distributed {
                    column: row.get::<_, Option<String>>(5).unwrap_or_default(),
                    colocation,
                },
                (_, repmodel) if repmodel == "t" => CitusKind::Reference,
                _ if colocation != 0 => CitusKind::SingleShard { colocation },
                _ => CitusKind::Local,
            };
            kinds.insert(table, kind);
        }
        // Schema-based sharding came with Citus 12: older clusters have no pg_dist_schema.
        let has_schemas: bool = client
            .query_one(
                "SELECT to_regclass('pg_catalog.pg_dist_schema') IS NOT NULL",
                &[],
            )
            .await
            .context("looking for Citus's pg_dist_schema")?
            .get(0);
        let mut distributed_schemas = Vec::new();
        if has_schemas {
            let rows = client
                .query(
                    "SELECT n.nspname::text FROM pg_dist_schema s \
                     JOIN pg_namespace n ON n.oid = s.schemaid ORDER BY 1",
                    &[],
                )
                .await
                .context("reading Citus's pg_dist_schema")?;
            distributed_schemas = rows.iter().map(|row| row.get(0)).collect();
        }
        Ok(Some(Citus {
            kinds,
            distributed_schemas,
        }))
    }

    pub fn kind(&self, table: TableId) -> Option<&CitusKind> {
        self.kinds.get(&table)
    }
}
