//! `orgexport restore` (DESIGN §9): an archive loaded back into a database. The manifest
//! says what the archive holds (`manifest`), the target's catalog what it can take
//! (`target`), the plan how the two meet (`plan`, pure), and `load` carries it out in one
//! transaction.

pub mod checks;
pub mod citus;
pub mod direct;
pub mod fills;
pub mod increment;
pub mod links;
pub mod load;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod schema_rename;
pub mod sql;
pub mod target;
pub mod transaction;
