//! Where one org's rows live on a Citus cluster (DESIGN §11): for each section, its Citus
//! kind and, for the tables co-located with the root, the shard that holds the org's key
//! (`get_shard_id_for_distribution_column`) and the node that holds that shard
//! (`pg_dist_placement`, `pg_dist_node`). What `plan` shows; reading from that node is
//! `export::direct`'s. The metadata itself is `citus.rs`'s.

use anyhow::Context;
use serde::Serialize;
use tokio_postgres::Client;

use crate::scope::catalog::Catalog;
use crate::scope::catalog::CitusKind;
use crate::scope::model::{Role, Scope};

/// A worker (or the coordinator) by its address in `pg_dist_node`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Node {
    pub host: String,
    pub port: i32,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One section's table on the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct TablePlacement {
    pub name: String,
    /// `distributed by company_id (colocation group 1)`, `reference table …`, or `local
    /// (coordinator)` for a table Citus does not manage.
    pub kind: String,
    /// The shard holding the org's rows, when one shard does.
    pub shard: Option<i64>,
    /// The nodes holding that shard.
    pub nodes: Vec<Node>,
}

/// The org's placement: its tables, and the nodes that hold its co-located shards (one,
/// unless shards are replicated).
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub nodes: Vec<Node>,
    pub tables: Vec<TablePlacement>,
}

impl Placement {
    /// `None` without Citus.
    pub async fn read(
        client: &Client,
        catalog: &Catalog,
        scope: &Scope,
        key: &str,
    ) -> anyhow::Result<Option<Placement>> {
        let Some(citus) = &catalog.citus else {
            return Ok(None);
        };
        // The root's group, or, when the root is a reference table, its tenant tables'.
        let root_group = std::iter::once(scope.root)
            .chain(
                scope
                    .sections
                    .iter()
                    .filter(|s| matches!(s.role, Role::Tenant { .. }))
                    .map(|s| s.table),
            )
            .find_map(|t| match citus.kind(t) {
                Some(CitusKind::Distributed { colocation, .. }) => Some(*colocation),
                _ => None,
            });
        let mut tables = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        for section in &scope.sections {
            let table = catalog.table(section.table);
            let name = table.qualified_name();
            let quoted = crate::db::quote_qualified(&table.schema, &table.name);
            let kind = citus.kind(section.table);
            let shard = match kind {
                Some(CitusKind::Distributed { colocation, .. })
                    if Some(*colocation) == root_group =>
                {
                    Some(shard_for_key(client, &quoted, key).await?)
                }
                Some(CitusKind::SingleShard { .. }) => Some(only_shard(client, &quoted).await?),
                _ => None,
            };
            let shard_nodes = match shard {
                Some(shard) => nodes_of(client, shard).await?,
                None => Vec::new(),
            };
            for node in &shard_nodes {
                if !nodes.contains(node) {
                    nodes.push(node.clone());
                }
            }
            tables.push(TablePlacement {
                name,
                kind: kind.map_or("local (coordinator)".to_string(), CitusKind::describe),
                shard,
                nodes: shard_nodes,
            });
        }
        nodes.sort();
        Ok(Some(Placement { nodes, tables }))
    }

    /// `plan`'s lines.
    pub fn lines(&self) -> Vec<String> {
        let width = self.tables.iter().map(|t| t.name.len()).max().unwrap_or(7);
        let nodes: Vec<String> = self.nodes.iter().map(Node::to_string).collect();
        let mut out = vec![match nodes.len() {
            0 => "citus: no shard holds the org's rows on its own".to_string(),
            _ => format!("citus: the org's shards are on {}", nodes.join(", ")),
        }];
        for t in &self.tables {
            let at = match t.shard {
                Some(shard) => {
                    let nodes: Vec<String> = t.nodes.iter().map(Node::to_string).collect();
                    format!(", shard {shard} on {}", nodes.join(", "))
                }
                None => String::new(),
            };
            out.push(format!("  {:<width$}  {}{at}", t.name, t.kind));
        }
        out
    }
}

async fn shard_for_key(client: &Client, table: &str, key: &str) -> anyhow::Result<i64> {
    let row = client
        .query_one(
            "SELECT get_shard_id_for_distribution_column($1::text::regclass, $2::text)",
            &[&table, &key],
        )
        .await
        .with_context(|| format!("finding the shard of {table} that holds the org"))?;
    Ok(row.get(0))
}

async fn only_shard(client: &Client, table: &str) -> anyhow::Result<i64> {
    let row = client
        .query_one(
            "SELECT min(shardid) FROM pg_dist_shard WHERE logicalrelid = $1::text::regclass",
            &[&table],
        )
        .await
        .with_context(|| format!("finding the shard of {table}"))?;
    Ok(row.get(0))
}

async fn nodes_of(client: &Client, shard: i64) -> anyhow::Result<Vec<Node>> {
    let rows = client
        .query(
            "SELECT n.nodename::text, n.nodeport FROM pg_dist_placement p \
             JOIN pg_dist_node n ON n.groupid = p.groupid \
             WHERE p.shardid = $1 AND n.isactive ORDER BY 1, 2",
            &[&shard],
        )
        .await
        .with_context(|| format!("finding the nodes of shard {shard}"))?;
    Ok(rows
        .iter()
        .map(|r| Node {
            host: r.get(0),
            port: r.get(1),
        })
        .collect())
}
