//! `orgexport link EXPORT_ID [--ttl D]`: a fresh download link for a completed export. Every
//! link issued is audited (who, ttl, expiry — never the link itself, whose signature is a
//! bearer credential).

use serde_json::json;
use uuid::Uuid;

use crate::cli::LinkArgs;
use crate::commands::{completed_export, connect_sessions, prepare_history};
use crate::config::Settings;
use crate::error::{Kind, fail};
use crate::history;
use crate::output::Reporter;
use crate::store::Store;

pub async fn run(settings: &Settings, args: &LinkArgs, report: Reporter) -> anyhow::Result<()> {
    let id = parse_export_id(&args.export_id)?;
    let mut sessions = connect_sessions(settings).await?;
    prepare_history(&mut sessions.history, &report).await?;
    let (export, _) = completed_export(&sessions.history, id).await?;
    let ttl = settings.link_ttl;
    let store = Store::open(&settings.store)?;
    let key = export.owned_key(&store)?;
    let link = store.link(&key, ttl).await?;
    history::audit(
        &sessions.history.client,
        "link.issued",
        Some(id),
        Some(&export.org_key),
        json!({
            "ttl_seconds": ttl.as_secs(),
            "expires_at": link.expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "signed": link.expires_at.is_some(),
        }),
    )
    .await?;
    if report.output.json {
        report.json(&json!({
            "export_id": id.to_string(),
            "link": link.url,
            "expires_at": link.expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }))?;
    } else {
        match link.expires_at {
            Some(at) => report.info(&format!(
                "link valid until {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            None => report.info("local file: the link is an unsigned file:// URL"),
        }
        report.stdout_line(&link.url)?;
    }
    Ok(())
}

pub fn parse_export_id(text: &str) -> anyhow::Result<Uuid> {
    Uuid::parse_str(text).map_err(|_| {
        fail(
            Kind::Usage,
            format!("{text:?} is not an export id (a UUID, as `orgexport list` shows)"),
        )
    })
}
