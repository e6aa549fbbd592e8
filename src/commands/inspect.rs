//! `orgexport inspect ARCHIVE|EXPORT_ID|URL`: the manifest of an archive as a table, or as
//! the manifest object with `--json`, read from the archive's head — no database for a path
//! or URL, no decompression of the sections. Also [`read_head`], for `diff`.

use serde_json::Value;

use crate::cli::InspectArgs;
use crate::commands::locate_archive;
use crate::config::Settings;
use crate::export::verify::DEFAULT_MAX_VALUE_BYTES;
use crate::inspect::head::read_manifest;
use crate::inspect::table::manifest_lines;
use crate::output::Reporter;
use crate::store::ArchiveSource;

pub async fn run(settings: &Settings, args: &InspectArgs, report: Reporter) -> anyhow::Result<()> {
    let (manifest, _) = read_head(settings, &args.archive, &report).await?;
    if report.output.json {
        report.json(&manifest)?;
    } else {
        for line in manifest_lines(&manifest, report.output.verbose) {
            report.stdout_line(&line)?;
        }
    }
    Ok(())
}

/// The archive the operator named ([`locate_archive`]: an export id through the history, a
/// path or URL as it is) and the manifest it opens with.
pub async fn read_head(
    settings: &Settings,
    archive: &str,
    report: &Reporter,
) -> anyhow::Result<(Value, ArchiveSource)> {
    let (source, _) = locate_archive(settings, archive, report).await?;
    let raw = source.open_read().await?;
    let shown = source.describe();
    let manifest =
        tokio::task::spawn_blocking(move || read_manifest(raw, DEFAULT_MAX_VALUE_BYTES, &shown))
            .await??;
    Ok((manifest, source))
}
