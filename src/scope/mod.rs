//! Which rows belong to an org (DESIGN §2): read the catalog, collect the references, classify
//! tables, decide secret columns (§3), generate SQL.

pub mod catalog;
pub mod checks;
pub mod citus;
pub mod columns;
pub mod config;
pub mod filters;
pub mod key_values;
pub mod model;
pub mod narrow_spec;
pub mod narrowing;
mod ownership;
pub mod placement;
pub mod plan;
pub mod polymorphism;
pub mod references;
pub mod rules;
pub mod sampling;
pub mod schemas;
pub mod secrets;
pub mod selection;
pub mod subject;
mod tenancy;
pub mod tenant_schema;
#[cfg(test)]
pub(crate) mod testing;
pub mod window;
