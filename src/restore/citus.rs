//! Restoring into a Citus cluster is not built yet (DESIGN §11): the load stages the archive
//! in temporary tables of the coordinator and checks and inserts with joins between them and
//! the target's tables, which Citus cannot run on distributed tables ("direct joins between
//! distributed and local tables are not supported") nor, once the transaction has written a
//! reference table, on reference tables (the worker has no such temporary table). Until the
//! load plans those joins for Citus, a target whose sections Citus manages is refused before
//! anything is written, naming the tables and the way round.

use crate::scope::catalog::Catalog;

/// The problem, when a section's table is distributed or a reference table on the target.
pub fn refuse_managed_tables(catalog: &Catalog, names: &[&str]) -> Result<(), Vec<String>> {
    let Some(citus) = &catalog.citus else {
        return Ok(());
    };
    let managed: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| catalog.find(n).is_some_and(|t| citus.kind(t).is_some()))
        .collect();
    if managed.is_empty() {
        return Ok(());
    }
    Err(vec![format!(
        "restoring into Citus-managed tables ({}) is not supported yet; restore into a single-node PostgreSQL database with the same schema (for a new cluster, create_distributed_table then moves its rows onto the workers)",
        managed.join(", ")
    )])
}
