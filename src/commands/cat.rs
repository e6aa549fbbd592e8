//! `orgexport cat ARCHIVE --section S [--format ndjson|csv]`: one section's rows on stdout,
//! streamed from the archive's row stream ([`crate::inspect::rows`]); reading stops after
//! the section. A section the archive lacks is a usage error listing those it has.

use std::io::Write;

use serde_json::Value;

use crate::cli::CatArgs;
use crate::commands::locate_archive;
use crate::config::Settings;
use crate::error::{Kind, fail};
use crate::inspect::format::{RowFormat, csv_header, csv_line, ndjson_line};
use crate::inspect::rows::{Flow, RowVisitor, reader_for};
use crate::output::Reporter;

pub async fn run(settings: &Settings, args: &CatArgs, report: Reporter) -> anyhow::Result<()> {
    let (source, _) = locate_archive(settings, &args.archive, &report).await?;
    let raw = source.open_read().await?;
    let shown = source.describe();
    let mut printer = Printer {
        section: args.section.clone(),
        format: args.format,
        columns: Vec::new(),
        out: std::io::BufWriter::new(std::io::stdout()),
        seen: false,
    };
    tokio::task::spawn_blocking(move || {
        reader_for(&Value::Null).read(raw, &mut printer, &shown)?;
        printer.out.flush()?;
        anyhow::Ok(())
    })
    .await?
}

/// Prints the wanted section's rows as they pass; stops at the next section.
struct Printer {
    section: String,
    format: RowFormat,
    columns: Vec<String>,
    out: std::io::BufWriter<std::io::Stdout>,
    seen: bool,
}

impl RowVisitor for Printer {
    fn manifest(&mut self, manifest: &Value) -> anyhow::Result<()> {
        let sections = manifest["sections"].as_array().map_or(&[][..], |s| s);
        let Some(section) = sections.iter().find(|s| s["name"] == *self.section) else {
            let names: Vec<&str> = sections.iter().filter_map(|s| s["name"].as_str()).collect();
            return Err(fail(
                Kind::Usage,
                format!(
                    "the archive has no section {}; it has: {} (see `orgexport inspect`)",
                    self.section,
                    names.join(", ")
                ),
            ));
        };
        self.columns = section["columns"]
            .as_array()
            .map_or(&[][..], |c| c)
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect();
        if self.format == RowFormat::Csv {
            writeln!(self.out, "{}", csv_header(&self.columns))?;
        }
        Ok(())
    }

    fn row(&mut self, section: &str, json: &str) -> anyhow::Result<Flow> {
        if section != self.section {
            return Ok(if self.seen {
                Flow::Stop
            } else {
                Flow::Continue
            });
        }
        self.seen = true;
        match self.format {
            RowFormat::Ndjson => writeln!(self.out, "{}", ndjson_line(json))?,
            RowFormat::Csv => writeln!(self.out, "{}", csv_line(&self.columns, json)?)?,
        }
        Ok(Flow::Continue)
    }
}
