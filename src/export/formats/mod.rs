//! The archive formats beside the `orgexport/1` document (README "Formats"): what each
//! writes between sections and rows (`framing.rs`, used by the archive writer), what it writes
//! around the spooled sections on upload ([`assemble`]), and how each is read back into the
//! one stream `verify` and `restore` consume — the manifest, then every row as JSON text
//! ([`crate::export::reading::ArchiveSink`]).
//!
//! Not here: compressing chunks and the spool (`archive.rs`), rendering values (`render.rs`),
//! the JSON document's own reader (`verify.rs`).

pub mod bundle;
pub mod csv;
pub mod framing;
pub mod ndjson;
pub mod parquet;
pub mod parquet_read;

use serde_json::Value;

use crate::archive_format::Format;
use crate::export::archive::{Manifest, Spool, SpoolRange, assemble_framed, document_frame};
use crate::store::ChunkSink;

/// How a decompressed archive is laid out, told by its first bytes (`verify` and `inspect`
/// both need to know before parsing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The `orgexport/1` document: `{"manifest": …, "sections": …}`.
    Document,
    /// NDJSON: the manifest object on the first line, `format` its first key.
    Lines,
    /// A tar bundle: `manifest.json`, then one file per section.
    Bundle,
}

pub fn layout_of(head: &[u8]) -> Layout {
    if head.starts_with(b"{\"format\":") {
        Layout::Lines
    } else if bundle::is_tar(head) {
        Layout::Bundle
    } else {
        Layout::Document
    }
}

/// The file a section becomes in a bundle: `schema.table.csv`, with every byte that could
/// make a path (`/`, `\`, control characters) or upset a shell (`%`, spaces, quotes)
/// percent-encoded, so that extracting never writes outside the folder.
pub fn section_path(format: Format, section: &str) -> String {
    let mut path = String::with_capacity(section.len() + 8);
    for c in section.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') || !c.is_ascii() {
            path.push(c);
        } else {
            path.push_str(&format!("%{:02X}", c as u32));
        }
    }
    path.push_str(match format {
        Format::Json | Format::Ndjson => ".json",
        Format::Csv => ".csv",
        Format::Parquet => ".parquet",
    });
    path
}

/// The manifest's `encoding` entry: how the format writes values, for whoever reads the
/// files without orgexport.
pub fn encoding(format: Format) -> Option<Value> {
    match format {
        Format::Json => None,
        Format::Ndjson => Some(serde_json::json!({
            "lines": "line 1: this manifest; then one {\"section\": \"schema.table\", \"row\": {…}} per row, sections in manifest order; a section without rows has no line",
            "values": "as in the json format: PostgreSQL's to_json",
        })),
        Format::Csv => Some(csv::encoding()),
        Format::Parquet => Some(parquet::encoding()),
    }
}

/// Writes the archive of `format` to `sink`: the manifest first, then the spooled sections in
/// manifest order.
pub async fn assemble<S: ChunkSink>(
    format: Format,
    manifest: &Manifest,
    spools: Vec<Spool>,
    sections: &[SpoolRange],
    level: u32,
    sink: &mut S,
) -> anyhow::Result<()> {
    let frame = match format {
        Format::Json => document_frame(manifest, level)?,
        Format::Ndjson => ndjson::frame(manifest, level)?,
        Format::Csv | Format::Parquet => bundle::frame(manifest, level)?,
    };
    assemble_framed(frame, spools, sections, sink).await
}

/// Section names and row counts in manifest order, as a row stream without section markers
/// for empty sections (NDJSON, bundles) finds them: every section of the manifest, zero
/// until its rows come; a row of a section not in the manifest, or out of its order, is an
/// error.
pub struct SectionOrder {
    counts: Vec<(String, u64)>,
    at: usize,
}

impl SectionOrder {
    pub fn of(manifest: &Value) -> Result<SectionOrder, String> {
        let counts = manifest["sections"]
            .as_array()
            .ok_or("the manifest has no sections list")?
            .iter()
            .map(|s| (s["name"].as_str().unwrap_or_default().to_string(), 0))
            .collect();
        Ok(SectionOrder { counts, at: 0 })
    }

    /// Moves to `section` (the current one or a later one in the manifest).
    pub fn enter(&mut self, section: &str) -> Result<(), String> {
        if self.counts.get(self.at).is_some_and(|(n, _)| n == section) {
            return Ok(());
        }
        match self.counts[self.at..]
            .iter()
            .position(|(n, _)| n == section)
        {
            Some(i) => {
                self.at += i;
                Ok(())
            }
            None if self.counts.iter().any(|(n, _)| n == section) => Err(format!(
                "rows of section {section} come after a later section's (out of manifest order)"
            )),
            None => Err(format!(
                "rows of section {section}, which the manifest does not list"
            )),
        }
    }

    /// One more row of the current section; its number (from 0).
    pub fn row(&mut self) -> u64 {
        let count = &mut self.counts[self.at].1;
        *count += 1;
        *count - 1
    }

    pub fn into_counts(self) -> Vec<(String, u64)> {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_paths_never_leave_the_folder() {
        assert_eq!(section_path(Format::Csv, "public.orgs"), "public.orgs.csv");
        assert_eq!(
            section_path(Format::Csv, "a/b.../..\\x y"),
            "a%2Fb...%2F..%5Cx%20y.csv"
        );
        assert_eq!(section_path(Format::Csv, "s.tâble"), "s.tâble.csv");
    }

    #[test]
    fn rows_must_follow_the_manifest_order() {
        let manifest =
            serde_json::json!({"sections": [{"name": "a"}, {"name": "b"}, {"name": "c"}]});
        let mut order = SectionOrder::of(&manifest).unwrap();
        order.enter("b").unwrap();
        assert_eq!(order.row(), 0);
        assert_eq!(order.row(), 1);
        assert!(
            order
                .enter("a")
                .unwrap_err()
                .contains("out of manifest order")
        );
        assert!(order.enter("z").unwrap_err().contains("does not list"));
        order.enter("c").unwrap();
        order.row();
        assert_eq!(
            order.into_counts(),
            [
                ("a".to_string(), 0),
                ("b".to_string(), 2),
                ("c".to_string(), 1)
            ]
        );
    }
}
