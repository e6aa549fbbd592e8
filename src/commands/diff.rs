//! `orgexport diff A B`: two archives of the same org compared ([`crate::inspect::diff`]):
//! a table of the sections that differ (or every section with `-v`) and a summary line, or
//! one JSON object with `--json`. Exit 0 whether or not they differ (`identical` says).

use serde_json::json;

use crate::cli::DiffArgs;
use crate::commands::inspect::read_head;
use crate::config::Settings;
use crate::inspect::diff::{SectionDiff, Side, diff};
use crate::inspect::table::TextTable;
use crate::output::Reporter;

pub async fn run(settings: &Settings, args: &DiffArgs, report: Reporter) -> anyhow::Result<()> {
    let mut sides = Vec::new();
    for archive in [&args.a, &args.b] {
        let (manifest, source) = read_head(settings, archive, &report).await?;
        let raw = source.open_read().await?;
        sides.push(Side {
            manifest,
            raw,
            shown: source.describe(),
        });
    }
    let ids: Vec<serde_json::Value> = sides
        .iter()
        .map(|s| json!({"export_id": s.manifest["export_id"], "snapshot_at": s.manifest["snapshot_at"], "archive": s.shown}))
        .collect();
    let org = sides[0].manifest["org"].clone();
    let b = sides.pop().expect("two");
    let a = sides.pop().expect("two");
    let sections = tokio::task::spawn_blocking(move || diff(a, b)).await??;
    let identical = sections.iter().all(|s| s.status == "unchanged");
    if report.output.json {
        report.json(&json!({
            "org": org, "a": ids[0], "b": ids[1], "identical": identical, "sections": sections,
        }))?;
        return Ok(());
    }
    let shown = |i: usize, side: &str| {
        format!(
            "{side}: export {} (snapshot {})",
            ids[i]["export_id"].as_str().unwrap_or("?"),
            ids[i]["snapshot_at"].as_str().unwrap_or("?")
        )
    };
    report.stdout_line(&format!(
        "org {} (key {} in {})",
        org["lookup"].as_str().unwrap_or("?"),
        org["key"].as_str().unwrap_or("?"),
        org["table"].as_str().unwrap_or("?")
    ))?;
    report.stdout_line(&shown(0, "A"))?;
    report.stdout_line(&shown(1, "B"))?;
    for line in table(&sections, report.output.verbose) {
        report.stdout_line(&line)?;
    }
    report.stdout_line(&summary(&sections))?;
    Ok(())
}

fn table(sections: &[SectionDiff], all: bool) -> Vec<String> {
    let shown: Vec<&SectionDiff> = sections
        .iter()
        .filter(|s| all || s.status != "unchanged")
        .collect();
    if shown.is_empty() {
        return Vec::new();
    }
    let count = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
    let mut table = TextTable::new(&[
        "SECTION",
        "STATUS",
        ">A ROWS",
        ">B ROWS",
        ">ADDED",
        ">REMOVED",
        ">CHANGED",
        "MATCHED BY",
    ]);
    for s in shown {
        let by = match (&s.key, s.status) {
            (_, "added" | "removed") => "-".to_string(),
            (Some(key), _) => key.join(", "),
            (None, _) => "whole row (no primary key recorded)".to_string(),
        };
        let mut status = s.status.to_string();
        let columns: Vec<String> = (s.columns_added.iter().map(|c| format!("+{c}")))
            .chain(s.columns_removed.iter().map(|c| format!("-{c}")))
            .collect();
        if !columns.is_empty() {
            status.push_str(&format!(" (columns {})", columns.join(" ")));
        }
        table.row(vec![
            s.name.clone(),
            status,
            count(s.rows_a),
            count(s.rows_b),
            s.added.to_string(),
            s.removed.to_string(),
            s.changed.to_string(),
            by,
        ]);
    }
    let mut lines = vec![String::new()];
    lines.extend(table.lines());
    lines.push(String::new());
    lines
}

fn summary(sections: &[SectionDiff]) -> String {
    let of = |status: &str| sections.iter().filter(|s| s.status == status).count();
    let rows = |f: fn(&SectionDiff) -> u64| sections.iter().map(f).sum::<u64>();
    if of("unchanged") == sections.len() {
        return format!("identical: {} sections, same rows", sections.len());
    }
    format!(
        "{} sections added, {} removed, {} changed, {} unchanged; rows: {} added, {} removed, {} changed",
        of("added"),
        of("removed"),
        of("changed"),
        of("unchanged"),
        rows(|s| s.added),
        rows(|s| s.removed),
        rows(|s| s.changed)
    )
}
