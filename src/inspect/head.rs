//! The manifest of an archive, read from its head: the manifest is the document's first key
//! and the archive's first gzip member (`export::archive::assemble`), so reading stops right
//! after it — the sections are neither decompressed nor (from a store or a link) downloaded
//! beyond the read-ahead. `jq .manifest` reads the whole archive; this reads kilobytes.

use std::fmt;
use std::io::{BufReader, Read};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::error::{Kind, fail};
use crate::export::verify::manifest_key;

/// Decompressed bytes read ahead of the parser: enough to never read byte by byte, small
/// enough to leave the sections alone.
const READ_AHEAD: usize = 64 * 1024;

/// The manifest an archive opens with. A manifest larger than `max_bytes` is refused unread
/// (a hostile archive cannot make this allocate more).
pub fn read_manifest(raw: impl Read, max_bytes: u64, shown: &str) -> anyhow::Result<Value> {
    let mut input = BufReader::new(raw);
    let head = {
        use std::io::BufRead;
        input.fill_buf().map(|b| b[..b.len().min(2)].to_vec())?
    };
    if head != [0x1f, 0x8b] {
        return Err(fail(
            Kind::Usage,
            format!(
                "{shown} is not an orgexport archive: not a gzip file (an archive is a .json.gz)"
            ),
        ));
    }
    let decoded = flate2::read::MultiGzDecoder::new(input).take(max_bytes);
    let mut json =
        serde_json::Deserializer::from_reader(BufReader::with_capacity(READ_AHEAD, decoded));
    let mut manifest = None;
    let read = json.deserialize_map(FirstKey {
        manifest: &mut manifest,
    });
    match (manifest, read) {
        (Some(manifest), _) => Ok(manifest),
        (None, Err(e)) if e.is_eof() => Err(fail(
            Kind::ExportFailed,
            format!(
                "{shown}: the archive ends inside its manifest (truncated, or the manifest is larger than {max_bytes} bytes)"
            ),
        )),
        (None, Err(e)) => Err(fail(
            Kind::ExportFailed,
            format!("{shown} is not a readable orgexport archive: {e}"),
        )),
        (None, Ok(())) => unreachable!("the visitor stops with an error or a manifest"),
    }
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
