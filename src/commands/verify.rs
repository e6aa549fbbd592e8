//! `orgexport verify ID|PATH|URL`: re-read an archive and check it against its manifest and
//! its sidecar. Exit 0 when sound, 1 with the first problem otherwise.

use serde_json::json;

use crate::cli::VerifyArgs;
use crate::commands::archive_location;
use crate::config::Settings;
use crate::error::{Kind, fail};
use crate::export::verify::{check_recorded, check_sidecar, verify_archive};
use crate::output::{Reporter, human_bytes};
use crate::store::Store;

pub async fn run(settings: &Settings, args: &VerifyArgs, report: Reporter) -> anyhow::Result<()> {
    let (object_url, recorded) = archive_location(settings, &args.target, &report).await?;
    let (store, key) = Store::locate(&object_url, &settings.store).await?;
    let reader = store.open_read(&key).await?;
    let mut verdict = tokio::task::spawn_blocking(move || verify_archive(reader)).await?;
    // The manifest inside is the reference; the sidecar (or the history row) adds the
    // size and digest check. An archive on its own — what a customer downloads — verifies.
    let mut checked_against = "the manifest inside";
    match store.read_small(&Store::sidecar_of(&key)).await? {
        Some(sidecar) => {
            check_sidecar(&mut verdict, &sidecar);
            checked_against = "its manifest and sidecar";
        }
        None => {
            if let Some(export) = &recorded {
                check_recorded(&mut verdict, export.bytes, export.sha256.as_deref());
                checked_against = "its manifest and history row";
            }
        }
    }
    if report.output.json {
        report.json(&json!({
            "ok": verdict.ok(),
            "sections": verdict.sections,
            "records": verdict.records,
            "bytes": verdict.bytes,
            "sha256": verdict.sha256,
            "problems": verdict.problems,
        }))?;
    } else if verdict.ok() {
        report.stdout_line(&format!(
            "ok: {} sections, {} records, {}, sha256 {} (checked against {checked_against})",
            verdict.sections,
            verdict.records,
            human_bytes(verdict.bytes),
            verdict.sha256
        ))?;
    }
    match verdict.problems.first() {
        None => Ok(()),
        Some(first) => Err(fail(
            Kind::ExportFailed,
            format!("{} is not a sound archive: {first}", store.object_url(&key)),
        )),
    }
}
