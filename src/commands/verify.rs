//! `orgexport verify ID|PATH|URL`: re-read an archive and check it against its manifest and
//! its sidecar. Exit 0 when sound, 1 with the first problem otherwise.

use serde_json::json;

use crate::cli::VerifyArgs;
use crate::commands::{locate_archive, open_archive};
use crate::config::Settings;
use crate::error::{Kind, fail};
use crate::export::verify::{check_recorded, check_sidecar, verify_archive};
use crate::output::{Reporter, human_bytes};

pub async fn run(settings: &Settings, args: &VerifyArgs, report: Reporter) -> anyhow::Result<()> {
    let (source, recorded) = locate_archive(settings, &args.target, &report).await?;
    let (reader, stored) = open_archive(&source, &settings.identities).await?;
    let mut verdict = tokio::task::spawn_blocking(move || verify_archive(reader)).await?;
    // An encrypted archive: the size and digest vouched for are the stored object's.
    if let Some(stored) = stored {
        (verdict.bytes, verdict.sha256) = stored.result();
    }
    // The manifest inside is the reference. By export id, the history row is the authority
    // on size and digest, whatever the sidecar beside the archive says; the sidecar is
    // checked too when there is one. An archive on its own — what a customer downloads —
    // verifies against its manifest alone.
    let sidecar = source.sidecar().await?;
    let checked_against = match (&recorded, &sidecar) {
        (Some(export), sidecar) => {
            check_recorded(&mut verdict, export.bytes, export.sha256.as_deref());
            if let Some(sidecar) = sidecar {
                check_sidecar(&mut verdict, sidecar);
                "its manifest, sidecar and history row"
            } else {
                "its manifest and history row"
            }
        }
        (None, Some(sidecar)) => {
            check_sidecar(&mut verdict, sidecar);
            "its manifest and sidecar"
        }
        (None, None) => "the manifest inside",
    };
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
            format!("{} is not a sound archive: {first}", source.describe()),
        )),
    }
}
