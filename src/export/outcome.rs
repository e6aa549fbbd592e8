//! One org's export as `run` reports it: the entry of `run --json`'s `exports` list — which
//! the completion hook is also given (`hooks`). The shape is documented in the README;
//! printing it is `run`'s.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::{kind_of, one_line};
use crate::export::job::Exported;
use crate::org::Org;

/// A completed export.
pub fn completed(e: &Exported) -> Value {
    json!({
        "export_id": e.id.to_string(),
        "org": e.org.lookup,
        "org_key": e.org.key,
        "status": "completed",
        "object_url": e.object_url,
        "link": e.link.url,
        "link_expires_at": e.link.expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "bytes": e.bytes,
        "sha256": e.sha256,
        "record_count": e.record_count,
        "sections": e.sections,
    })
}

/// A failed export of `org` (as typed), with its id and org when it got as far as the
/// history (an unknown org never does).
pub fn failed(org: &str, recorded: Option<&(Uuid, Org)>, err: &anyhow::Error) -> Value {
    let mut entry = json!({
        "org": org,
        "status": "failed",
        "error": { "code": kind_of(err).name(), "message": one_line(err) },
    });
    if let Some((id, org)) = recorded {
        entry["export_id"] = id.to_string().into();
        entry["org_key"] = org.key.clone().into();
    }
    entry
}
