//! The integration tests' harness, shared by every test binary (`mod support;`): a real
//! PostgreSQL cluster and one database per test (`cluster.rs`), object stores on loopback
//! (`stores.rs`), the builder that runs the real binary and checks its exit code and output
//! (`cli.rs`), the archive reader (`archive.rs`), scratch directories (`scratch.rs`) and golden
//! files (`golden.rs`). Tests import from here, never from the modules.

// Each test binary uses a part of the harness: the rest, and its re-exports, are unused
// there, not a mistake.
#![allow(dead_code, unused_imports)]

mod archive;
mod citus;
mod cli;
mod cluster;
mod golden;
pub mod people;
mod scratch;
mod standby;
mod stores;
pub mod tenant_schemas;

pub use archive::{Archive, read_doc, write_doc};
pub use citus::{CitusCluster, CitusDb, fixture as citus_fixture};
pub use cli::{Expect, Orgexport, Run, Running, signal, wait_for_copy};
pub use cluster::{APP_PASSWORD, CERT_USER, Cluster, TestDb, reserve_port};
pub use golden::assert_golden;
pub use scratch::TempDir;
pub use standby::Standby;
pub use stores::{
    AZURITE_ACCOUNT, AZURITE_KEY, Azurite, MotoServer, S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY,
    S3Server, http_get,
};
