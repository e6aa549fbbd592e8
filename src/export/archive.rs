//! The `orgexport/1` archive (DESIGN §4): one JSON document whose first key is the manifest,
//! then the sections in manifest order, gzip-compressed as it is produced.
//!
//! The sections are written first, compressed, into a spool (an anonymous temporary file):
//! only then are the manifest's exact counts, cross-tenant counts and redacted json keys
//! known, without a separate counting pass over the database. [`assemble`] then writes the
//! manifest as the first gzip member and copies the spooled members after it.
//!
//! The writer never holds more than one chunk of JSON plus the chunks being compressed: JSON
//! accumulates up to `CHUNK_SIZE`, then the chunk is compressed off the async reactor as an
//! independent gzip member (concatenated members are one valid gzip stream), several at once,
//! and handed to the sink strictly in order. Back-pressure: when `max_in_flight` chunks are
//! being compressed, the writer waits for the oldest.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::scope::catalog::Catalog;
use crate::scope::model::{Scope, Section};
use crate::store::ChunkSink;

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
    /// The table's primary key, when every column of it is exported: what `diff` matches
    /// rows by. Absent from archives written before it was recorded (they diff by whole row).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    pub excluded_columns: Vec<String>,
    /// Why each excluded column is out (DESIGN §3): `name`, `config: exclude_columns`,
    /// `generated from …`, `content: bcrypt hash in 100% of 200 sampled values`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub excluded_column_reasons: BTreeMap<String, String>,
    /// Rows left out because their owners belong to two orgs (DESIGN §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_tenant_rows: Option<u64>,
    /// json/jsonb object keys removed as secrets (DESIGN §3).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redacted_json_keys: Vec<String>,
    /// Key/value settings tables: the org's rows whose value was redacted because their key
    /// is a secret (DESIGN §3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redacted_values: Option<u64>,
    /// The references that scoped the section.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

/// What streaming a section found.
#[derive(Debug, Clone, Default)]
pub struct Counted {
    /// Rows written.
    pub written: u64,
    /// Rows in scope (more than `written` when capped).
    pub total: u64,
    pub cross_tenant: Option<u64>,
    pub redacted_json_keys: Vec<String>,
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
    /// A section's manifest entry.
    pub fn new(
        catalog: &Catalog,
        scope: &Scope,
        section: &Section,
        counted: Counted,
    ) -> SectionManifest {
        let table = catalog.table(section.table);
        let (description, via) = scope.describe(catalog, section);
        let capped = counted.total > counted.written;
        SectionManifest {
            name: table.qualified_name(),
            scope: description,
            record_count: counted.written,
            capped,
            total_count: capped.then_some(counted.total),
            cross_tenant_rows: counted.cross_tenant,
            redacted_json_keys: counted.redacted_json_keys,
            redacted_values: section.key_values.as_ref().map(|kv| kv.redacted_values),
            via,
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
            primary_key: if table
                .primary_key
                .iter()
                .all(|k| section.columns.contains(k))
            {
                table.primary_key.clone()
            } else {
                Vec::new()
            },
            excluded_columns: section.excluded_columns.clone(),
            excluded_column_reasons: section.exclusion_reasons.iter().cloned().collect(),
        }
    }
}

impl Manifest {
    pub fn record_count(&self) -> u64 {
        self.sections.iter().map(|s| s.record_count).sum()
    }
}

/// A compressed member and the JSON buffer it came from (emptied, for reuse).
type Compressed = (Vec<u8>, Vec<u8>);

pub struct ArchiveWriter<S: ChunkSink> {
    sink: S,
    buf: Vec<u8>,
    level: Compression,
    /// Compressing: each gives back the member and its (emptied) JSON buffer.
    in_flight: VecDeque<JoinHandle<std::io::Result<Compressed>>>,
    /// JSON buffers given back, reused: fresh megabytes cost page faults (issue 21).
    spare: Vec<Vec<u8>>,
    max_in_flight: usize,
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
            spare: Vec::new(),
            max_in_flight: cores + 1,
            first_row: true,
            json_bytes: 0,
        }
    }

    /// Opens a section: `"name":[`, after a comma unless it is the archive's `first`.
    pub async fn begin_section(&mut self, name: &str, first: bool) -> anyhow::Result<()> {
        if !first {
            self.buf.push(b',');
        }
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

    /// Bytes of JSON written so far (compressed or still buffered).
    pub fn json_bytes(&self) -> u64 {
        self.json_bytes + self.buf.len() as u64
    }

    /// Starts a row that is then written piece by piece with [`ArchiveWriter::append`].
    pub fn begin_row(&mut self) {
        if !self.first_row {
            self.buf.push(b',');
        }
        self.first_row = false;
    }

    /// Appends a piece of a row, compressing whole chunks as they fill (large values).
    pub async fn append(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> anyhow::Result<()> {
        write(&mut self.buf);
        self.maybe_flush().await
    }

    /// Closes a section. With `whole`, waits until all of it is in the sink: the section is
    /// then whole gzip members of its own, which parallel readers need to put sections from
    /// several spools in order (one reader need not: a thousand tiny sections would cost a
    /// thousand deflate states).
    pub async fn end_section(&mut self, whole: bool) -> anyhow::Result<()> {
        self.buf.push(b']');
        if whole {
            self.finish().await?;
            return Ok(());
        }
        self.maybe_flush().await
    }

    /// The sink (how much of it is written, between sections).
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Waits for every chunk to reach the sink; returns the size of the sections' JSON. Take
    /// the sink back with [`ArchiveWriter::into_sink`].
    pub async fn finish(&mut self) -> anyhow::Result<u64> {
        self.flush_chunk();
        while !self.in_flight.is_empty() {
            self.write_oldest().await?;
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
            self.write_oldest().await?;
        }
        Ok(())
    }

    /// Waits for the oldest chunk's compression and writes it to the sink.
    async fn write_oldest(&mut self) -> anyhow::Result<()> {
        let handle = self.in_flight.pop_front().expect("non-empty");
        let (compressed, mut chunk) = handle.await.context("compression task failed")??;
        if self.spare.len() < 2 {
            chunk.clear();
            self.spare.push(chunk);
        }
        self.sink.write(compressed).await
    }

    fn flush_chunk(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let fresh = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(CHUNK_SIZE + 16 * 1024));
        let chunk = std::mem::replace(&mut self.buf, fresh);
        self.json_bytes += chunk.len() as u64;
        let level = self.level;
        self.in_flight
            .push_back(tokio::task::spawn_blocking(move || {
                let mut encoder = GzEncoder::new(Vec::with_capacity(chunk.len() / 4), level);
                encoder.write_all(&chunk)?;
                Ok((encoder.finish()?, chunk))
            }));
    }
}

/// The spool the sections are compressed into before the manifest is known: an anonymous
/// temporary file (nothing is left behind, whatever ends the process).
pub struct Spool {
    file: tokio::fs::File,
    bytes: u64,
}

impl Spool {
    pub fn new() -> anyhow::Result<Spool> {
        let file = tempfile::tempfile().context(
            "creating the spool file in the temporary directory (set TMPDIR to a writable directory with room for the compressed archive)",
        )?;
        Ok(Spool {
            file: tokio::fs::File::from_std(file),
            bytes: 0,
        })
    }
}

impl Spool {
    /// Bytes written so far: where the next section starts.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Where one section's gzip members are: which spool, from which byte, how many.
#[derive(Debug, Clone, Copy, Default)]
pub struct SpoolRange {
    pub spool: usize,
    pub start: u64,
    pub len: u64,
}

impl ChunkSink for Spool {
    async fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.bytes += chunk.len() as u64;
        self.file
            .write_all(&chunk)
            .await
            .context("writing the spool file (is the temporary directory full? set TMPDIR)")
    }
}

/// Writes the archive to `sink`: the manifest (opening the document) as the first gzip
/// member, the spooled sections in manifest order (`sections`: where each is, in which of the
/// `spools` — one per job), and the closing member.
pub async fn assemble<S: ChunkSink>(
    manifest: &Manifest,
    spools: Vec<Spool>,
    sections: &[SpoolRange],
    level: u32,
    sink: &mut S,
) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut head = b"{\"manifest\":".to_vec();
    serde_json::to_writer(&mut head, manifest).context("serializing the manifest")?;
    head.extend_from_slice(b",\"sections\":{");
    sink.write(gzip(&head, level)?).await?;
    let mut files = Vec::with_capacity(spools.len());
    for spool in spools {
        let mut file = spool.file;
        file.flush().await.context("writing the spool file")?;
        files.push(file);
    }
    for range in sections {
        let file = &mut files[range.spool];
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .context("seeking in the spool file")?;
        let mut left = range.len;
        while left > 0 {
            let mut chunk = vec![0u8; CHUNK_SIZE.min(left as usize)];
            file.read_exact(&mut chunk)
                .await
                .context("reading the spool file")?;
            left -= chunk.len() as u64;
            sink.write(chunk).await?;
        }
    }
    sink.write(gzip(b"}}", level)?).await
}

use tokio::io::AsyncWriteExt as _;

fn gzip(data: &[u8], level: u32) -> anyhow::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::new(level));
    encoder.write_all(data).context("compressing")?;
    encoder.finish().context("compressing")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::manifest::FORMAT;
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
        use crate::scope::config::ScopeConfig;
        use crate::scope::rules::classify;
        use crate::scope::testing::Builder;
        let catalog = Builder::default()
            .table("public.orgs", &["id!"])
            .table("public.tasks", &["id!", "org_id!", "secret_token$"])
            .fk("public.tasks", &["org_id"], "public.orgs", &["id"])
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let section = scope.section_of(1).unwrap();
        let counted = |written, total| Counted {
            written,
            total,
            ..Counted::default()
        };
        let capped = SectionManifest::new(&catalog, &scope, section, counted(10, 300));
        assert_eq!(
            (capped.record_count, capped.capped, capped.total_count),
            (10, true, Some(300))
        );
        let json = serde_json::to_value(&capped).unwrap();
        assert_eq!(json["total_count"], 300);
        assert_eq!(json["columns"][0]["type"], "bigint");
        assert_eq!(json["excluded_columns"][0], "secret_token");
        let whole = SectionManifest::new(&catalog, &scope, section, counted(7, 7));
        assert_eq!(
            (whole.record_count, whole.capped, whole.total_count),
            (7, false, None)
        );
        let json = serde_json::to_value(&whole).unwrap();
        assert!(json.get("total_count").is_none());
        assert!(json.get("cross_tenant_rows").is_none());
        assert!(json.get("redacted_json_keys").is_none());
    }

    #[tokio::test]
    async fn spooled_sections_follow_the_manifest_in_one_document() {
        let mut writer = ArchiveWriter::new(Spool::new().unwrap(), 1);
        let row = format!("{{\"v\":\"{}\"}}", "x".repeat(1000));
        let mut ranges = Vec::new();
        for (i, name) in ["a.b", "c.d"].into_iter().enumerate() {
            let start = writer.sink().bytes();
            writer.begin_section(name, i == 0).await.unwrap();
            for _ in 0..3000 {
                writer
                    .row_with(|buf| {
                        buf.extend_from_slice(row.as_bytes());
                        Ok(())
                    })
                    .await
                    .unwrap();
            }
            writer.end_section(true).await.unwrap();
            let len = writer.sink().bytes() - start;
            ranges.push(SpoolRange {
                spool: 0,
                start,
                len,
            });
        }
        let json_bytes = writer.finish().await.unwrap();
        assert!(
            json_bytes > 2 * CHUNK_SIZE as u64,
            "several members were written"
        );
        let spool = writer.into_sink();
        let mut sink = VecSink(Vec::new());
        assemble(&manifest(), vec![spool], &ranges, 1, &mut sink)
            .await
            .unwrap();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&sink.0[..])
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.starts_with("{\"manifest\":{\"format\":\"orgexport/1\""));
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["sections"]["a.b"].as_array().unwrap().len(), 3000);
        assert_eq!(doc["sections"]["c.d"].as_array().unwrap().len(), 3000);
    }
}
