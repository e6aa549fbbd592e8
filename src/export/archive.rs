//! The `orgexport/1` archive (DESIGN §4): one JSON document whose first key is the manifest,
//! then the sections in manifest order, gzip-compressed as it is produced.
//!
//! The writer never holds more than one chunk of JSON plus the chunks being compressed: JSON
//! accumulates up to `CHUNK_SIZE`, then the chunk is compressed off the async reactor as an
//! independent gzip member (concatenated members are one valid gzip stream), several at once,
//! and handed to the sink strictly in order. Back-pressure: when `max_in_flight` chunks are
//! being compressed, the writer waits for the oldest.

use std::collections::VecDeque;
use std::io::Write;

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::scope::catalog::Catalog;
use crate::scope::rules::{Scope, Section};

pub const FORMAT: &str = "orgexport/1";
/// JSON per gzip member: small enough to keep memory flat, large enough that the 32 KiB
/// deflate window loses nothing measurable (see bench/RESULTS.md).
const CHUNK_SIZE: usize = 1 << 20;

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub format: &'static str,
    pub export_id: String,
    pub org: OrgRef,
    pub generated_at: String,
    pub snapshot_at: String,
    pub server_version: String,
    pub tool_version: &'static str,
    pub sections: Vec<SectionManifest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrgRef {
    pub table: String,
    pub key: String,
    pub lookup: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SectionManifest {
    pub name: String,
    pub scope: String,
    pub record_count: u64,
    pub capped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<u64>,
    pub columns: Vec<ColumnManifest>,
    pub excluded_columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnManifest {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// The sidecar `<id>.manifest.json`: the manifest plus what was written.
#[derive(Debug, Clone, Serialize)]
pub struct Sidecar<'a> {
    #[serde(flatten)]
    pub manifest: &'a Manifest,
    pub archive: ArchiveInfo,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveInfo {
    pub object_url: String,
    pub bytes: u64,
    pub sha256: String,
}

impl SectionManifest {
    /// A section's manifest entry: `total` rows in scope, of which at most `cap` are written.
    pub fn new(
        catalog: &Catalog,
        scope: &Scope,
        section: &Section,
        total: u64,
        cap: Option<u64>,
    ) -> SectionManifest {
        let table = catalog.table(section.table);
        let (description, _) = scope.describe(catalog, section);
        let capped = cap.is_some_and(|cap| total > cap);
        SectionManifest {
            name: table.qualified_name(),
            scope: description,
            record_count: cap.map_or(total, |cap| total.min(cap)),
            capped,
            total_count: capped.then_some(total),
            columns: section
                .columns
                .iter()
                .map(|c| ColumnManifest {
                    name: c.clone(),
                    type_name: table
                        .column(c)
                        .map(|c| c.type_name.clone())
                        .unwrap_or_default(),
                })
                .collect(),
            excluded_columns: section.excluded_columns.clone(),
        }
    }
}

impl Manifest {
    pub fn record_count(&self) -> u64 {
        self.sections.iter().map(|s| s.record_count).sum()
    }
}

/// Where compressed bytes go, in order.
pub trait ChunkSink: Send {
    fn write(&mut self, chunk: Vec<u8>) -> impl Future<Output = anyhow::Result<()>> + Send;
}

pub struct ArchiveWriter<S: ChunkSink> {
    sink: S,
    buf: Vec<u8>,
    level: Compression,
    in_flight: VecDeque<JoinHandle<std::io::Result<Vec<u8>>>>,
    max_in_flight: usize,
    first_section: bool,
    first_row: bool,
    json_bytes: u64,
}

impl<S: ChunkSink> ArchiveWriter<S> {
    pub fn new(sink: S, level: u32) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ArchiveWriter {
            sink,
            buf: Vec::with_capacity(CHUNK_SIZE + 16 * 1024),
            level: Compression::new(level),
            in_flight: VecDeque::new(),
            max_in_flight: cores + 1,
            first_section: true,
            first_row: true,
            json_bytes: 0,
        }
    }

    /// Starts the document with the manifest.
    pub async fn begin(&mut self, manifest: &Manifest) -> anyhow::Result<()> {
        self.buf.extend_from_slice(b"{\"manifest\":");
        serde_json::to_writer(&mut self.buf, manifest).context("serializing the manifest")?;
        self.buf.extend_from_slice(b",\"sections\":{");
        self.maybe_flush().await
    }

    pub async fn begin_section(&mut self, name: &str) -> anyhow::Result<()> {
        if !self.first_section {
            self.buf.push(b',');
        }
        self.first_section = false;
        self.first_row = true;
        serde_json::to_writer(&mut self.buf, name).context("serializing a section name")?;
        self.buf.extend_from_slice(b":[");
        self.maybe_flush().await
    }

    /// Appends one row that `render` writes straight into the buffer.
    pub async fn row_with(
        &mut self,
        render: impl FnOnce(&mut Vec<u8>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        if !self.first_row {
            self.buf.push(b',');
        }
        self.first_row = false;
        render(&mut self.buf)?;
        self.maybe_flush().await
    }

    pub async fn end_section(&mut self) -> anyhow::Result<()> {
        self.buf.push(b']');
        self.maybe_flush().await
    }

    /// Closes the document and waits for every chunk to reach the sink; returns the size of
    /// the JSON document. Take the sink back with [`ArchiveWriter::into_sink`].
    pub async fn finish(&mut self) -> anyhow::Result<u64> {
        self.buf.extend_from_slice(b"}}");
        self.flush_chunk();
        while let Some(handle) = self.in_flight.pop_front() {
            let compressed = handle.await.context("compression task failed")??;
            self.sink.write(compressed).await?;
        }
        Ok(self.json_bytes)
    }

    /// The sink; after a failure, compression still pending is dropped (the caller aborts).
    pub fn into_sink(self) -> S {
        for handle in &self.in_flight {
            handle.abort();
        }
        self.sink
    }

    async fn maybe_flush(&mut self) -> anyhow::Result<()> {
        if self.buf.len() < CHUNK_SIZE {
            return Ok(());
        }
        self.flush_chunk();
        while self.in_flight.len() > self.max_in_flight {
            let handle = self.in_flight.pop_front().expect("non-empty");
            let compressed = handle.await.context("compression task failed")??;
            self.sink.write(compressed).await?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_SIZE + 16 * 1024));
        self.json_bytes += chunk.len() as u64;
        let level = self.level;
        self.in_flight
            .push_back(tokio::task::spawn_blocking(move || {
                let mut encoder = GzEncoder::new(Vec::with_capacity(chunk.len() / 4), level);
                encoder.write_all(&chunk)?;
                encoder.finish()
            }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    struct VecSink(Vec<u8>);
    impl ChunkSink for VecSink {
        async fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
            self.0.extend(chunk);
            Ok(())
        }
    }

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT,
            export_id: "id".into(),
            org: OrgRef {
                table: "public.orgs".into(),
                key: "1".into(),
                lookup: "acme".into(),
            },
            generated_at: "t".into(),
            snapshot_at: "t".into(),
            server_version: "15".into(),
            tool_version: "0",
            sections: vec![],
        }
    }

    #[test]
    fn capped_sections_say_so_and_give_the_total() {
        use crate::scope::catalog::{Catalog, Column, RelKind, Table};
        use crate::scope::rules::{Role, Scope, Section};
        let catalog = Catalog {
            tables: vec![Table {
                schema: "public".into(),
                name: "tasks".into(),
                kind: RelKind::Table,
                columns: vec![Column {
                    name: "id".into(),
                    type_name: "bigint".into(),
                    type_oid: 20,
                    not_null: true,
                }],
                primary_key: vec!["id".into()],
                indexed_leading_columns: vec![],
                estimated_rows: None,
            }],
            foreign_keys: vec![],
        };
        let section = Section {
            table: 0,
            role: Role::Tenant {
                column: "org_id".into(),
            },
            columns: vec!["id".into()],
            excluded_columns: vec!["secret_token".into()],
        };
        let scope = Scope {
            root: 0,
            root_key: "id".into(),
            lookup_columns: vec![],
            sections: vec![section.clone()],
            edges: vec![],
            skipped: vec![],
            warnings: vec![],
            only_tables: vec![],
        };
        let capped = SectionManifest::new(&catalog, &scope, &section, 300, Some(10));
        assert_eq!(
            (capped.record_count, capped.capped, capped.total_count),
            (10, true, Some(300))
        );
        let json = serde_json::to_value(&capped).unwrap();
        assert_eq!(json["total_count"], 300);
        assert_eq!(json["columns"][0]["type"], "bigint");
        let whole = SectionManifest::new(&catalog, &scope, &section, 7, Some(10));
        assert_eq!(
            (whole.record_count, whole.capped, whole.total_count),
            (7, false, None)
        );
        assert!(
            serde_json::to_value(&whole)
                .unwrap()
                .get("total_count")
                .is_none()
        );
    }

    #[tokio::test]
    async fn many_members_decode_to_one_document_manifest_first() {
        let mut writer = ArchiveWriter::new(VecSink(Vec::new()), 1);
        writer.begin(&manifest()).await.unwrap();
        let row = format!("{{\"v\":\"{}\"}}", "x".repeat(1000));
        for name in ["a.b", "c.d"] {
            writer.begin_section(name).await.unwrap();
            for _ in 0..3000 {
                writer
                    .row_with(|buf| {
                        buf.extend_from_slice(row.as_bytes());
                        Ok(())
                    })
                    .await
                    .unwrap();
            }
            writer.end_section().await.unwrap();
        }
        let json_bytes = writer.finish().await.unwrap();
        let sink = writer.into_sink();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&sink.0[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text.len() as u64, json_bytes);
        assert!(
            json_bytes > 2 * CHUNK_SIZE as u64,
            "several members were written"
        );
        assert!(text.starts_with("{\"manifest\":{\"format\":\"orgexport/1\""));
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["sections"]["a.b"].as_array().unwrap().len(), 3000);
        assert_eq!(doc["sections"]["c.d"].as_array().unwrap().len(), 3000);
    }
}
