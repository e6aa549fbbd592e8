//! Which rows belong to an org (DESIGN §2): read the catalog, classify tables, generate SQL.

pub mod catalog;
pub mod plan;
pub mod rules;
