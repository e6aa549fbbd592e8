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

use crate::encryption::spool::SealedFile;
use crate::export::formats::framing::{FileDigest, Framing};
use crate::export::{deflate, hex_deflate};
use crate::scope::catalog::Catalog;
use crate::scope::model::{Scope, Section};
use crate::store::ChunkSink;

/// JSON per gzip member: small enough to keep memory flat, large enough that the 32 KiB
/// deflate window loses nothing measurable (see bench/RESULTS.md).
const CHUNK_SIZE: usize = 1 << 20;

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub format: &'static str,
    /// The layout (`ndjson`, `csv`) when it is not the JSON document: absent from
    /// the JSON document, which stays byte for byte what it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_format: Option<&'static str>,
    /// How the bundle's files encode values (NULL, formula guard): README "Formats".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<serde_json::Value>,
    pub export_id: String,
    pub org: OrgRef,
    pub generated_at: String,
    pub snapshot_at: String,
    /// `primary`, or `standby` when read from a hot standby (`snapshot_at` is then the
    /// standby's replay timestamp).
    pub snapshot_source: &'static str,
    pub server_version: String,
    pub tool_version: &'static str,
    /// A narrowed export (`--subject`, `--since`/`--until`, `--where`, `--columns`): what
    /// narrowed it and each section's rule (`scope::narrowing::manifest_selection`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selection: Option<serde_json::Value>,
    /// The polymorphic pairs scope followed, configured or adopted from the org's own type
    /// values (present when there are any or `infer_references` is on): a restore classifies
    /// the target with exactly these — which class names an org's rows hold decides which
    /// tables are delegated types (DESIGN §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polymorphic: Option<Vec<crate::scope::references::PolymorphicConfig>>,
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
    /// The bundle formats: the section's file in the bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<SectionFile>,
}

/// A section's file in a bundle: its path in the tar, size and SHA-256 (of the file itself,
/// as extracted).
#[derive(Debug, Clone, Serialize)]
pub struct SectionFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
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
    /// Columns judged secret by their content as the section streamed: (column, reason).
    pub excluded_by_content: Vec<(String, String)>,
    /// The bundle formats: the section's file.
    pub file: Option<SectionFile>,
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
    pub format: &'static str,
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
            file: counted.file,
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
    /// What goes between sections and rows: the format's punctuation.
    framing: Framing,
    /// The bundle formats: the current section file's digest, fed in order.
    digest: Option<FileDigest>,
}

impl<S: ChunkSink> ArchiveWriter<S> {
    pub fn new(sink: S, level: u32) -> Self {
        Self::with_framing(sink, level, Framing::Document)
    }

    /// A writer for `framing`'s format; the bundle formats' sections are digested.
    pub fn with_framing(sink: S, level: u32, framing: Framing) -> Self {
        let digest = framing.is_files().then(FileDigest::default);
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
            framing,
            digest,
        }
    }

    /// Opens a section: `"name":[`, after a comma unless it is the archive's `first`.
    pub async fn begin_section(&mut self, name: &str, first: bool) -> anyhow::Result<()> {
        self.first_row = true;
        self.framing.begin_section(&mut self.buf, name, first)?;
        self.maybe_flush().await
    }

    /// Appends one row that `render` writes straight into the buffer.
    pub async fn row_with(
        &mut self,
        render: impl FnOnce(&mut Vec<u8>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.begin_row();
        render(&mut self.buf)?;
        self.end_row();
        self.maybe_flush().await
    }

    /// Bytes of JSON written so far (compressed or still buffered).
    pub fn json_bytes(&self) -> u64 {
        self.json_bytes + self.buf.len() as u64
    }

    /// Starts a row that is then written piece by piece with [`ArchiveWriter::append`].
    pub fn begin_row(&mut self) {
        self.framing.begin_row(&mut self.buf, self.first_row);
        self.first_row = false;
    }

    /// Ends a row started with [`ArchiveWriter::begin_row`].
    pub fn end_row(&mut self) {
        self.framing.end_row(&mut self.buf);
    }

    /// Appends a piece of a row, compressing whole chunks as they fill (large values).
    pub async fn append(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> anyhow::Result<()> {
        write(&mut self.buf);
        self.maybe_flush().await
    }

    /// Appends bytes made elsewhere (a Parquet file's), a chunk at a time.
    pub async fn append_bytes(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        for slice in bytes.chunks(CHUNK_SIZE) {
            self.append(|buf| buf.extend_from_slice(slice)).await?;
        }
        Ok(())
    }

    /// Closes a section. With `whole`, waits until all of it is in the sink: the section is
    /// then whole gzip members of its own, which parallel readers need to put sections from
    /// several spools in order (one reader need not: a thousand tiny sections would cost a
    /// thousand deflate states).
    pub async fn end_section(&mut self, whole: bool) -> anyhow::Result<()> {
        self.framing.end_section(&mut self.buf);
        if whole || self.digest.is_some() {
            self.finish().await?;
            return Ok(());
        }
        self.maybe_flush().await
    }

    /// The bundle formats, after [`ArchiveWriter::end_section`]: the section file's size and
    /// SHA-256 (the digest starts again for the next section).
    pub fn take_digest(&mut self) -> Option<(u64, String)> {
        self.digest.as_mut().map(FileDigest::take)
    }

    /// Whether rows are CSV records (one file per section) rather than JSON.
    pub fn writes_csv(&self) -> bool {
        matches!(self.framing, Framing::Csv)
    }

    /// Whether sections are Parquet files (`formats::parquet`) rather than rows of text.
    pub fn writes_parquet(&self) -> bool {
        matches!(self.framing, Framing::Parquet)
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
        if let Some(digest) = &mut self.digest {
            digest.update(&chunk);
        }
        let level = self.level;
        self.in_flight
            .push_back(tokio::task::spawn_blocking(move || {
                // A chunk of a large bytea's hex is coded without deflate's search.
                let hex = match level.level() {
                    0 => None,
                    _ => hex_deflate::gzip_hex(&chunk),
                };
                let member = match hex {
                    Some(member) => member,
                    None => deflate::gzip_member(&chunk, level.level())?,
                };
                Ok((member, chunk))
            }));
    }
}

/// The spool the sections are compressed into before the manifest is known: an anonymous
/// temporary file (nothing is left behind, whatever ends the process) that holds only
/// ciphertext, under a key that lives in memory only ([`SealedFile`]): no plaintext of an
/// org's rows ever touches the disk, encrypted export or not.
pub struct Spool {
    file: SealedFile,
    bytes: u64,
}

impl Spool {
    pub fn new() -> anyhow::Result<Spool> {
        let file = tempfile::tempfile().context(
            "creating the spool file in the temporary directory (set TMPDIR to a writable directory with room for the compressed archive)",
        )?;
        Ok(Spool {
            file: SealedFile::new(file).context("sealing the spool file")?,
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

/// The JSON document around the spooled sections: the manifest (opening the document) as the
/// first gzip member, and the closing member.
pub fn document_frame(manifest: &Manifest, level: u32) -> anyhow::Result<Frame> {
    let mut head = b"{\"manifest\":".to_vec();
    serde_json::to_writer(&mut head, manifest).context("serializing the manifest")?;
    head.extend_from_slice(b",\"sections\":{");
    Ok(Frame {
        head: gzip(&head, level)?,
        around: Vec::new(),
        tail: gzip(b"}}", level)?,
    })
}

/// What a format writes around the spooled sections, as gzip members.
pub struct Frame {
    pub head: Vec<u8>,
    /// Before and after each range of `sections` (none when empty).
    pub around: Vec<(Vec<u8>, Vec<u8>)>,
    pub tail: Vec<u8>,
}

/// Writes the archive to `sink`: `frame.head`, the spooled sections in manifest order
/// (`sections`: where each is, in which of the `spools` — one per job), each between its
/// `frame.around` members, and `frame.tail`. The spools are read (and decrypted) on a task of
/// their own, a few chunks ahead of the sink (digest, store): the two took turns before,
/// 0.29 s of the big benchmark's 3.2 s (issue 21).
pub async fn assemble_framed<S: ChunkSink>(
    frame: Frame,
    spools: Vec<Spool>,
    sections: &[SpoolRange],
    sink: &mut S,
) -> anyhow::Result<()> {
    let (tx, mut pieces) = tokio::sync::mpsc::channel(AHEAD);
    let sections = sections.to_vec();
    let reader = tokio::spawn(async move {
        if let Err(err) = read_framed(frame, spools, &sections, &tx).await {
            let _ = tx.send(Err(err)).await;
        }
    });
    let written = async {
        while let Some(piece) = pieces.recv().await {
            sink.write(piece?).await?;
            // Ready pieces and room in the sink may never say Pending: let the caller see an
            // interrupt between pieces.
            tokio::task::yield_now().await;
        }
        anyhow::Ok(())
    }
    .await;
    // A failed sink drops the channel: the reader stops at its next piece.
    drop(pieces);
    reader.await.context("reading the spool failed")?;
    written
}

/// Chunks read ahead of the sink.
const AHEAD: usize = 4;

/// The archive's pieces in order, sent to `tx` (see [`assemble_framed`]); stops early when
/// the receiver is gone.
async fn read_framed(
    frame: Frame,
    spools: Vec<Spool>,
    sections: &[SpoolRange],
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<Vec<u8>>>,
) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let send = |piece: Vec<u8>| async move { tx.send(Ok(piece)).await.is_ok() };
    if !send(frame.head).await {
        return Ok(());
    }
    let mut files = Vec::with_capacity(spools.len());
    for spool in spools {
        let mut file = spool.file;
        file.flush().await.context("writing the spool file")?;
        files.push(file);
    }
    let mut around = frame.around.into_iter();
    for range in sections {
        let (before, after) = around.next().unwrap_or_default();
        if !before.is_empty() && !send(before).await {
            return Ok(());
        }
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
            if !send(chunk).await {
                return Ok(());
            }
        }
        if !after.is_empty() && !send(after).await {
            return Ok(());
        }
    }
    send(frame.tail).await;
    Ok(())
}

use tokio::io::AsyncWriteExt as _;

pub fn gzip(data: &[u8], level: u32) -> anyhow::Result<Vec<u8>> {
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
            archive_format: None,
            encoding: None,
            export_id: "id".into(),
            org: OrgRef {
                table: "public.orgs".into(),
                key: "1".into(),
                lookup: "acme".into(),
            },
            generated_at: "t".into(),
            snapshot_at: "t".into(),
            snapshot_source: "primary",
            server_version: "15".into(),
            tool_version: "0",
            selection: None,
            polymorphic: None,
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
        let frame = document_frame(&manifest(), 1).unwrap();
        assemble_framed(frame, vec![spool], &ranges, &mut sink)
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
