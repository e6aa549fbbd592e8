//! The manifest of an archive, read from its head: the manifest is the document's first key
//! and the archive's first gzip member (`export::archive::assemble`), so reading stops right
//! after it — the sections are neither decompressed nor (from a store or a link) downloaded
//! beyond the read-ahead. `jq .manifest` reads the whole archive; this reads kilobytes.

use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::encryption::AGE_MAGIC;
use crate::error::{Kind, fail};
use crate::export::formats::{self, Layout, bundle};
use crate::export::verify::manifest_key;

/// Decompressed bytes read ahead of the parser: enough to never read byte by byte, small
/// enough to leave the sections alone.
const READ_AHEAD: usize = 64 * 1024;

/// The manifest an archive opens with. A manifest larger than `max_bytes` is refused unread
/// (a hostile archive cannot make this allocate more).
pub fn read_manifest(raw: impl Read, max_bytes: u64, shown: &str) -> anyhow::Result<Value> {
    let mut input = BufReader::new(raw);
    let head = input.fill_buf().map(|b| b[..b.len().min(32)].to_vec())?;
    if head.starts_with(AGE_MAGIC) {
        return Err(fail(
            Kind::Usage,
            format!(
                "{shown} is encrypted with age: decrypt it first (age -d -i KEY -o archive FILE), or read the plaintext sidecar <export_id>.manifest.json beside it"
            ),
        ));
    }
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Err(fail(
            Kind::Usage,
            format!(
                "{shown} is not an orgexport archive: not a gzip file (an archive is a .json.gz, .ndjson.gz, .csv.tar.gz or .parquet.tar.gz)"
            ),
        ));
    }
    let decoded = flate2::read::MultiGzDecoder::new(input).take(max_bytes);
    let mut decoded = BufReader::with_capacity(READ_AHEAD, decoded);
    match formats::layout_of(decoded.fill_buf()?) {
        Layout::Document => {}
        Layout::Lines => {
            let mut line = Vec::new();
            decoded.read_until(b'\n', &mut line)?;
            if !line.ends_with(b"\n") {
                return Err(truncated(shown, max_bytes));
            }
            return serde_json::from_slice(&line).map_err(|e| unreadable(shown, &e));
        }
        Layout::Bundle => return bundle_manifest(decoded, max_bytes, shown),
    }
    let mut json = serde_json::Deserializer::from_reader(decoded);
    let mut manifest = None;
    let read = json.deserialize_map(FirstKey {
        manifest: &mut manifest,
    });
    match (manifest, read) {
        (Some(manifest), _) => Ok(manifest),
        (None, Err(e)) if e.is_eof() => Err(truncated(shown, max_bytes)),
        (None, Err(e)) => Err(unreadable(shown, &e)),
        (None, Ok(())) => unreachable!("the visitor stops with an error or a manifest"),
    }
}

/// A bundle's first file, `manifest.json` (`export::formats::bundle`).
fn bundle_manifest(decoded: impl Read, max_bytes: u64, shown: &str) -> anyhow::Result<Value> {
    let mut archive = tar::Archive::new(decoded);
    let mut entries = archive.entries()?;
    let mut entry = match entries.next() {
        Some(entry) => entry.map_err(|_| truncated(shown, max_bytes))?,
        None => return Err(truncated(shown, max_bytes)),
    };
    if entry.path_bytes().as_ref() != bundle::MANIFEST_PATH.as_bytes() {
        return Err(fail(
            Kind::ExportFailed,
            format!(
                "{shown} is not a readable orgexport archive: its first file is not {}",
                bundle::MANIFEST_PATH
            ),
        ));
    }
    let mut text = Vec::new();
    entry
        .read_to_end(&mut text)
        .map_err(|_| truncated(shown, max_bytes))?;
    serde_json::from_slice(&text).map_err(|e| unreadable(shown, &e))
}

fn truncated(shown: &str, max_bytes: u64) -> anyhow::Error {
    fail(
        Kind::ExportFailed,
        format!(
            "{shown}: the archive ends inside its manifest (truncated, or the manifest is larger than {max_bytes} bytes)"
        ),
    )
}

fn unreadable(shown: &str, e: &serde_json::Error) -> anyhow::Error {
    fail(
        Kind::ExportFailed,
        format!("{shown} is not a readable orgexport archive: {e}"),
    )
}

/// Reads `"manifest": {…}` and stops: serde would otherwise insist on the rest of the map.
struct FirstKey<'m> {
    manifest: &'m mut Option<Value>,
}

/// The "error" that ends the read once the manifest is in hand.
const DONE: &str = "orgexport: manifest read";

impl<'de> Visitor<'de> for FirstKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an orgexport archive object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        manifest_key(&mut map)?;
        *self.manifest = Some(map.next_value()?);
        Err(de::Error::custom(DONE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(parts: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part.as_bytes()).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    #[test]
    fn the_manifest_is_read_without_the_sections() {
        // The sections' member is garbage: reading the head must never reach it.
        let mut archive = gzip(&[r#"{"manifest":{"format":"orgexport/1"},"sections":{"#]);
        archive.extend(std::iter::repeat_n(0x55u8, 1 << 20));
        let manifest = read_manifest(&archive[..], 1 << 20, "a").unwrap();
        assert_eq!(manifest["format"], "orgexport/1");
    }

    #[test]
    fn ndjson_and_bundle_manifests_are_read_from_their_head() {
        let mut ndjson = gzip(&["{\"format\":\"orgexport/1\",\"archive_format\":\"ndjson\"}\n"]);
        ndjson.extend(std::iter::repeat_n(0x55u8, 1 << 20));
        let manifest = read_manifest(&ndjson[..], 1 << 20, "a").unwrap();
        assert_eq!(manifest["archive_format"], "ndjson");

        let text = br#"{"format":"orgexport/1","archive_format":"csv"}"#;
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, bundle::MANIFEST_PATH, &text[..])
            .unwrap();
        let tar = tar.into_inner().unwrap();
        let mut bundle = gzip(&[std::str::from_utf8(&tar).unwrap()]);
        bundle.extend(std::iter::repeat_n(0x55u8, 1 << 20));
        let manifest = read_manifest(&bundle[..], 1 << 20, "a").unwrap();
        assert_eq!(manifest["archive_format"], "csv");

        let err =
            read_manifest(&b"age-encryption.org/v1\n-> X25519"[..], 1 << 20, "a.age").unwrap_err();
        assert!(err.to_string().contains("encrypted with age"), "{err}");
    }

    #[test]
    fn other_files_and_layouts_are_refused() {
        let err = read_manifest(&b"PK\x03\x04"[..], 1 << 20, "x.zip").unwrap_err();
        assert!(err.to_string().contains("not a gzip file"), "{err}");
        let sections_first = gzip(&[r#"{"sections":{},"manifest":{}}"#]);
        let err = read_manifest(&sections_first[..], 1 << 20, "a").unwrap_err();
        assert!(
            err.to_string().contains("manifest must come first"),
            "{err}"
        );
        let big = gzip(&[r#"{"manifest":{"format":"orgexport/1","pad":"xxxxxxxxxxxxxxxx"}}"#]);
        let err = read_manifest(&big[..], 20, "a").unwrap_err();
        assert!(err.to_string().contains("larger than 20 bytes"), "{err}");
    }
}
