//! `run --direct` on Citus (DESIGN §11): the org's sections read on the worker that holds its
//! co-located shards, not through the coordinator. The worker has the cluster's metadata, so
//! the export's own router queries run there unchanged, on local shards and the worker's copy
//! of the reference tables (Citus's local execution: one backend, one snapshot); the
//! coordinator only resolves the org and names the worker (`pg_dist_node`), and keeps the
//! history. Which shards and nodes hold the org is `scope::placement`'s; the export itself is
//! `job.rs`'s.

use std::time::Duration;

use crate::db::connect::{Db, connect};
use crate::db::options::ConnectOptions;
use crate::error::{Kind, fail};
use crate::export::job::{Exported, Job, Request, Unexported};
use crate::org;
use crate::scope::placement::Placement;

/// Resolves the org on the coordinator, connects to its worker (same credentials and TLS) and
/// exports it there.
pub async fn export(
    job: &Job<'_>,
    coordinator: &Db,
    options: &ConnectOptions,
    request: &Request,
    wait: Option<Duration>,
) -> Result<Exported, Unexported> {
    let org = match request {
        Request::Lookup(lookup) => {
            org::resolve(
                &coordinator.client,
                job.catalog,
                job.scope,
                job.planner,
                lookup,
            )
            .await?
        }
        Request::Resolved(org) => org.clone(),
    };
    let tenant = crate::scope::rules::for_tenant(job.catalog, job.scope, &org.key)?;
    let scope = tenant.as_ref().unwrap_or(job.scope);
    let placement = Placement::read(&coordinator.client, job.catalog, scope, &org.key)
        .await?
        .ok_or_else(|| {
            fail(
                Kind::Usage,
                "--direct reads a Citus cluster's worker, but this database has no citus extension; leave out --direct",
            )
        })?;
    let unmanaged: Vec<&str> = placement
        .tables
        .iter()
        .filter(|t| t.kind.starts_with("local"))
        .map(|t| t.name.as_str())
        .collect();
    if !unmanaged.is_empty() {
        return Err(Unexported::from(fail(
            Kind::Usage,
            format!(
                "--direct cannot read {}: Citus does not manage it, so it lives on the coordinator only; leave out --direct",
                unmanaged.join(", ")
            ),
        )));
    }
    let [node] = placement.nodes.as_slice() else {
        return Err(Unexported::from(fail(
            Kind::Usage,
            format!(
                "--direct needs the org's shards on one node; they are on {} node(s) ({}); leave out --direct",
                placement.nodes.len(),
                placement
                    .nodes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )));
    };
    let port = u16::try_from(node.port).unwrap_or_default();
    let mut worker = connect(&options.for_server(&node.host, port)).await?;
    job.report.verbose(&format!(
        "reading org {} on worker {node} (--direct)",
        org.lookup
    ));
    job.export(&mut worker, &Request::Resolved(org), wait).await
}
