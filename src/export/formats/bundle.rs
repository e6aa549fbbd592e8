//! The bundle (`--format csv` and `--format parquet`): one tar.gz holding `manifest.json`
//! first, then one file per section in manifest order (`schema.table.csv` or
//! `schema.table.parquet`), each with its size and SHA-256 in the manifest.
//!
//! tar.gz rather than zip: a tar entry is its header, its bytes and padding, so the bundle is
//! assembled as gzip members around the spooled section files — the same parallel
//! compression and the same stream to the store, no seeking, no second compressor (a zip
//! entry needs one deflate stream of its own, its CRC and a central directory at the end).
//! Windows 10 and later extract it (`tar -xf`, and Explorer in Windows 11); the files inside
//! are plain CSV for any spreadsheet. Sizes over 8 GiB use tar's base-256 size field.
//!
//! Not here: the files' contents (`csv.rs`; `parquet.rs` and `parquet_read.rs`).

use std::io::{BufRead, BufReader, Read};

use anyhow::Context;
use serde_json::Value;

use super::csv::{ReadError, Record, RowBuilder, read_record};
use crate::export::archive::{Frame, Manifest, gzip};
use crate::export::reading::{ArchiveSink, Budget, Tap, read_failure};

const BLOCK: usize = 512;
pub const MANIFEST_PATH: &str = "manifest.json";

/// Whether decompressed bytes start with a tar header (the `ustar` magic at 257).
pub fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

/// The manifest entry first; around each spooled section file its header and padding; the
/// end-of-archive blocks last.
pub fn frame(manifest: &Manifest, level: u32) -> anyhow::Result<Frame> {
    let mtime = chrono::Utc::now().timestamp().max(0) as u64;
    let json = serde_json::to_vec_pretty(manifest).context("serializing the manifest")?;
    let mut head = header(MANIFEST_PATH, json.len() as u64, mtime)?;
    head.extend_from_slice(&json);
    head.resize(head.len() + padding(json.len() as u64), 0);
    let mut around = Vec::with_capacity(manifest.sections.len());
    for section in &manifest.sections {
        let file = section
            .file
            .as_ref()
            .with_context(|| format!("section {} has no file in the bundle", section.name))?;
        let pad = vec![0u8; padding(file.bytes)];
        let after = if pad.is_empty() {
            Vec::new()
        } else {
            gzip(&pad, level)?
        };
        around.push((gzip(&header(&file.path, file.bytes, mtime)?, level)?, after));
    }
    Ok(Frame {
        head: gzip(&head, level)?,
        around,
        tail: gzip(&[0u8; 2 * BLOCK], level)?,
    })
}

fn padding(bytes: u64) -> usize {
    (BLOCK - (bytes % BLOCK as u64) as usize) % BLOCK
}

/// A regular file's header (GNU: a longer name goes in a `././@LongLink` entry before it).
fn header(path: &str, size: u64, mtime: u64) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(3 * BLOCK);
    let name = path.as_bytes();
    if name.len() > 100 {
        let mut long = tar::Header::new_gnu();
        long.as_gnu_mut().context("a GNU header")?.name[..13].copy_from_slice(b"././@LongLink");
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_size(name.len() as u64 + 1);
        long.set_mode(0o644);
        long.set_cksum();
        out.extend_from_slice(long.as_bytes());
        out.extend_from_slice(name);
        out.push(0);
        out.resize(out.len() + padding(name.len() as u64 + 1), 0);
    }
    let mut h = tar::Header::new_gnu();
    let n = name.len().min(100);
    h.as_gnu_mut().context("a GNU header")?.name[..n].copy_from_slice(&name[..n]);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(mtime);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    Ok(out)
}

/// Reads a bundle: the manifest entry, then each section's file, its rows handed to `sink`
/// as JSON and its size and digest checked against the manifest.
pub fn read(
    input: &mut dyn BufRead,
    sink: &mut dyn ArchiveSink,
    budget: &Budget,
) -> Result<(Value, Vec<(String, u64)>), String> {
    let io = |e: std::io::Error| read_failure(&e, budget);
    let mut archive = tar::Archive::new(input);
    let mut entries = archive.entries().map_err(io)?;
    budget.reset("the manifest");
    let mut first = entries.next().ok_or("the bundle is empty")?.map_err(io)?;
    if first.path_bytes().as_ref() != MANIFEST_PATH.as_bytes() {
        return Err(format!(
            "the bundle's first file is {}, not {MANIFEST_PATH}",
            String::from_utf8_lossy(&first.path_bytes())
        ));
    }
    let mut text = Vec::new();
    first.read_to_end(&mut text).map_err(io)?;
    drop(first);
    let manifest: Value = serde_json::from_slice(&text)
        .map_err(|e| format!("invalid archive: {MANIFEST_PATH}: {e}"))?;
    sink.manifest(&manifest)?;
    // The files' format: CSV unless the manifest says Parquet.
    let parquet = manifest["archive_format"] == "parquet";
    let mut counts = Vec::new();
    for section in manifest["sections"].as_array().into_iter().flatten() {
        let name = section["name"].as_str().unwrap_or_default();
        let file = &section["file"];
        let path = file["path"].as_str().ok_or(format!(
            "the manifest gives section {name} no file in the bundle"
        ))?;
        let entry = entries
            .next()
            .ok_or(format!("the bundle ends before {path} (section {name})"))?
            .map_err(io)?;
        if entry.path_bytes().as_ref() != path.as_bytes() {
            return Err(format!(
                "the bundle holds {} where the manifest puts {path} (section {name})",
                String::from_utf8_lossy(&entry.path_bytes())
            ));
        }
        let check = |bytes: u64, sha: &str| {
            if file["bytes"].as_u64() == Some(bytes) && file["sha256"].as_str() == Some(sha) {
                return Ok(());
            }
            Err(format!(
                "{path} is not the file the manifest describes: {bytes} bytes, sha256 {sha}; the manifest says {} bytes, sha256 {}",
                file["bytes"], file["sha256"]
            ))
        };
        budget.reset(name);
        let rows = if parquet {
            let mut entry = entry;
            super::parquet_read::read(&mut entry, section, &check, sink, budget)?
        } else {
            let mut digesting = Tap::new(entry);
            let rows = read_csv(&mut BufReader::new(&mut digesting), section, sink, budget)?;
            let (bytes, sha) = digesting.finish();
            check(bytes, &sha)?;
            rows
        };
        counts.push((name.to_string(), rows));
    }
    if let Some(extra) = entries.next() {
        let extra = extra.map_err(io)?;
        return Err(format!(
            "the bundle holds {} after the manifest's sections",
            String::from_utf8_lossy(&extra.path_bytes())
        ));
    }
    Ok((manifest, counts))
}

/// One section's CSV file: the header row, then the rows; how many.
fn read_csv(
    input: &mut dyn BufRead,
    section: &Value,
    sink: &mut dyn ArchiveSink,
    budget: &Budget,
) -> Result<u64, String> {
    let name = section["name"].as_str().unwrap_or_default();
    let columns: Vec<(String, String)> = section["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (text("name"), text("type"))
        })
        .collect();
    let builder = RowBuilder::new(&columns);
    let mut record = Record::default();
    let failed = |e: ReadError, row: u64| match e {
        ReadError::Io(e) => read_failure(&e, budget),
        ReadError::Csv(problem) => format!("row {row} of section {name}: {problem}"),
    };
    if !read_record(input, &mut record).map_err(|e| failed(e, 0))?
        || !builder.is_header(&record, &columns)
    {
        return Err(format!(
            "the CSV file of section {name} does not start with the manifest's columns as its header"
        ));
    }
    let mut rows = 0;
    let mut json = String::new();
    budget.next_row(rows);
    while read_record(input, &mut record).map_err(|e| failed(e, rows + 1))? {
        builder
            .json(&record, &mut json)
            .map_err(|problem| format!("row {} of section {name} {problem}", rows + 1))?;
        sink.row(name, &json)?;
        rows += 1;
        budget.next_row(rows);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_and_sizes_are_what_tar_reads() {
        let long = format!("{}.csv", "s".repeat(150));
        let mut bytes = header(&long, 3, 0).unwrap();
        bytes.extend_from_slice(b"abc");
        bytes.resize(bytes.len() + padding(3), 0);
        bytes.extend_from_slice(&header("b.csv", 0, 0).unwrap());
        bytes.extend_from_slice(&[0u8; 2 * BLOCK]);
        assert!(is_tar(&bytes));
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut got = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = String::new();
            entry.read_to_string(&mut data).unwrap();
            got.push((
                String::from_utf8(entry.path_bytes().to_vec()).unwrap(),
                data,
            ));
        }
        assert_eq!(
            got,
            [(long, "abc".to_string()), ("b.csv".into(), String::new())]
        );
    }
}
