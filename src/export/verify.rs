//! Reading an archive back (`orgexport verify`, `orgexport restore`): streams it — gzip, then
//! JSON with serde's visitor API, each row handed on as it is read — so memory stays bounded
//! whatever its size, and checks it against its own manifest and its sidecar.

use crate::export::formats::{self, Layout};
use crate::export::manifest::FORMAT;
pub use crate::export::reading::{ArchiveSink, Budget, Tap, read_failure};
use crate::export::reading::{Limited, OVER_LIMIT, READ_AHEAD};
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub sections: usize,
    pub records: u64,
    pub problems: Vec<String>,
    /// Size and SHA-256 of the compressed archive as read.
    pub bytes: u64,
    pub sha256: String,
    pub export_id: Option<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Section name and row count, in document order.
type Counts = Vec<(String, u64)>;

/// `verify` keeps nothing.
struct Discard;

impl ArchiveSink for Discard {
    fn row(&mut self, _section: &str, _json: &str) -> Result<(), String> {
        Ok(())
    }
}

/// The largest manifest or row (its JSON text) an archive may hold by default: a bigger one is
/// refused as it is read, never allocated whole (`restore --max-value-bytes`).
pub const DEFAULT_MAX_VALUE_BYTES: u64 = 256 << 20;

/// Verifies an archive read from `raw` (the compressed bytes).
pub fn verify_archive(raw: impl Read) -> Verdict {
    read_archive(raw, &mut Discard, DEFAULT_MAX_VALUE_BYTES)
}

/// Reads an archive from `raw` (the compressed bytes) as a stream, checking it against its
/// own manifest, and hands its manifest and rows to `sink` as they pass. A manifest or row
/// larger than `max_item_bytes` stops the read (memory stays bounded by it).
pub fn read_archive(raw: impl Read, sink: &mut dyn ArchiveSink, max_item_bytes: u64) -> Verdict {
    let mut tap = Tap::new(raw);
    let mut verdict = Verdict::default();
    {
        let mut input = BufReader::new(&mut tap);
        // Say plainly what a file that is not gzip at all is, before decoding it.
        let head: Vec<u8> = input
            .fill_buf()
            .map(|b| b[..b.len().min(4)].to_vec())
            .unwrap_or_default();
        if !head.starts_with(&[0x1f, 0x8b]) {
            verdict.problems.push(if head.is_empty() {
                "the file is empty".to_string()
            } else {
                format!(
                    "not a gzip file (it starts with {}; an orgexport archive — .json.gz, .ndjson.gz, .csv.tar.gz or .parquet.tar.gz — starts with 1f 8b)",
                    hex::encode(&head)
                )
            });
        } else {
            check_document(input, sink, max_item_bytes, &mut verdict);
        }
    }
    // Read whatever is left so that the size and digest cover the whole object.
    let _ = std::io::copy(&mut tap, &mut std::io::sink());
    (verdict.bytes, verdict.sha256) = tap.finish();
    verdict
}

/// Decodes the gzip stream and checks what it holds — the JSON document, NDJSON lines or a
/// bundle, told apart by their first bytes — against its own manifest.
fn check_document(
    input: impl Read,
    sink: &mut dyn ArchiveSink,
    max_item_bytes: u64,
    verdict: &mut Verdict,
) {
    let budget = std::rc::Rc::new(Budget::with_max(
        // What the read-ahead buffer may hold beyond the item being read.
        max_item_bytes.saturating_add(READ_AHEAD as u64),
    ));
    let limited = Limited {
        inner: flate2::read::MultiGzDecoder::new(input),
        budget: budget.clone(),
    };
    let mut decoder = BufReader::with_capacity(READ_AHEAD, limited);
    let other = match decoder.fill_buf() {
        Err(e) => Some(Err(read_failure(&e, &budget))),
        Ok(head) => match formats::layout_of(head) {
            Layout::Document => None,
            Layout::Lines => Some(formats::ndjson::read(&mut decoder, sink, &budget)),
            Layout::Bundle => Some(formats::bundle::read(&mut decoder, sink, &budget)),
        },
    };
    if let Some(read) = other {
        match read {
            Ok((manifest, counts)) => compare(&manifest, &counts, verdict),
            Err(problem) => verdict.problems.push(problem),
        }
        return;
    }
    let mut json = serde_json::Deserializer::from_reader(decoder);
    let visitor = DocumentVisitor {
        sink,
        budget: &budget,
    };
    let read = json.deserialize_map(visitor);
    if let Err(e) = &read
        && e.is_io()
        && e.to_string().contains(OVER_LIMIT)
    {
        verdict.problems.push(format!(
            "{} is larger than {max_item_bytes} bytes: refused unread (raise --max-value-bytes if the archive is trusted)",
            budget.describe()
        ));
        return;
    }
    match read {
        Ok((manifest, counts)) => {
            if let Err(e) = json.end() {
                verdict.problems.push(describe(&e, "after the document"));
            } else {
                compare(&manifest, &counts, verdict);
            }
        }
        Err(e) => verdict.problems.push(describe(&e, "")),
    }
}

/// Checks the archive's size and digest against what the history row recorded.
pub fn check_recorded(verdict: &mut Verdict, bytes: Option<i64>, sha256: Option<&str>) {
    if bytes != Some(verdict.bytes as i64) || sha256 != Some(verdict.sha256.as_str()) {
        verdict.problems.push(format!(
            "the archive is not the one recorded: {} bytes, sha256 {}, the history says {} bytes, sha256 {}",
            verdict.bytes,
            verdict.sha256,
            bytes.map_or("no".to_string(), |b| b.to_string()),
            sha256.unwrap_or("none")
        ));
    }
}

/// Checks the archive's size and digest against its sidecar.
pub fn check_sidecar(verdict: &mut Verdict, sidecar: &[u8]) {
    let Ok(sidecar) = serde_json::from_slice::<Value>(sidecar) else {
        verdict
            .problems
            .push("the sidecar manifest is not valid JSON".into());
        return;
    };
    let bytes = sidecar["archive"]["bytes"].as_u64();
    let sha = sidecar["archive"]["sha256"].as_str();
    if bytes != Some(verdict.bytes) {
        verdict.problems.push(format!(
            "size mismatch: the sidecar says {} bytes, the archive has {}",
            bytes.map_or("no".to_string(), |b| b.to_string()),
            verdict.bytes
        ));
    }
    if sha != Some(verdict.sha256.as_str()) {
        verdict.problems.push(format!(
            "SHA-256 mismatch: the sidecar says {}, the archive's is {}",
            sha.unwrap_or("nothing"),
            verdict.sha256
        ));
    }
    if let Some(id) = &verdict.export_id
        && sidecar["export_id"].as_str() != Some(id.as_str())
    {
        verdict
            .problems
            .push("the sidecar belongs to another export".into());
    }
}

fn describe(e: &serde_json::Error, place: &str) -> String {
    let text = e.to_string();
    if e.is_io()
        && (e.io_error_kind() == Some(std::io::ErrorKind::UnexpectedEof)
            || text.contains("incomplete"))
    {
        format!("the archive is truncated: the gzip stream ends early ({e})")
    } else if e.is_io() {
        // flate2 reports corrupt gzip (bad CRC, bad deflate data) as I/O errors.
        format!("not a valid gzip stream: {e}")
    } else if e.is_eof() {
        format!("the archive is truncated: {e}")
    } else if place.is_empty() {
        format!("invalid archive: {e}")
    } else {
        format!("invalid archive {place}: {e}")
    }
}

fn compare(manifest: &Value, counts: &Counts, verdict: &mut Verdict) {
    verdict.export_id = manifest["export_id"].as_str().map(str::to_string);
    if manifest["format"] != FORMAT {
        verdict
            .problems
            .push(format!("unknown format {}", manifest["format"]));
    }
    let Some(sections) = manifest["sections"].as_array() else {
        verdict
            .problems
            .push("the manifest has no sections list".into());
        return;
    };
    verdict.sections = counts.len();
    verdict.records = counts.iter().map(|(_, n)| n).sum();
    let expected: Vec<(String, Option<u64>)> = sections
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_string(),
                s["record_count"].as_u64(),
            )
        })
        .collect();
    let names: Vec<&str> = counts.iter().map(|(n, _)| n.as_str()).collect();
    let expected_names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(twice) = expected_names
        .iter()
        .enumerate()
        .find(|(i, n)| expected_names[..*i].contains(n))
    {
        verdict
            .problems
            .push(format!("the manifest lists section {} twice", twice.1));
        return;
    }
    if names != expected_names {
        verdict.problems.push(format!(
            "the sections are not the manifest's: found [{}], the manifest lists [{}]",
            names.join(", "),
            expected_names.join(", ")
        ));
        return;
    }
    for ((name, count), (_, record_count)) in counts.iter().zip(&expected) {
        if Some(*count) != *record_count {
            verdict.problems.push(format!(
                "section {name} holds {count} rows, the manifest says {}",
                record_count.map_or("nothing".to_string(), |c| c.to_string())
            ));
        }
    }
}

/// Reads the document's first key, which must be `"manifest"` (also `inspect::head`'s).
pub fn manifest_key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    match map.next_key::<String>()? {
        Some(key) if key == "manifest" => Ok(()),
        Some(key) => Err(de::Error::custom(format!(
            "the first key is {key:?}: the manifest must come first"
        ))),
        None => Err(de::Error::custom("the document is empty")),
    }
}

/// The top level: `"manifest"` first, then `"sections"`, nothing else.
struct DocumentVisitor<'s> {
    sink: &'s mut dyn ArchiveSink,
    budget: &'s Budget,
}

impl<'de> Visitor<'de> for DocumentVisitor<'_> {
    type Value = (Value, Counts);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an orgexport archive object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        manifest_key(&mut map)?;
        self.budget.reset("the manifest");
        let manifest: Value = map.next_value()?;
        self.sink.manifest(&manifest).map_err(de::Error::custom)?;
        match map.next_key::<String>()? {
            Some(key) if key == "sections" => {}
            other => {
                return Err(de::Error::custom(format!(
                    "expected \"sections\" after the manifest, found {other:?}"
                )));
            }
        }
        let counts = map.next_value_seed(SectionsSeed {
            sink: self.sink,
            budget: self.budget,
        })?;
        if let Some(key) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "unexpected key {key:?} after the sections"
            )));
        }
        Ok((manifest, counts))
    }
}

struct SectionsSeed<'s> {
    sink: &'s mut dyn ArchiveSink,
    budget: &'s Budget,
}

impl<'de> DeserializeSeed<'de> for SectionsSeed<'_> {
    type Value = Counts;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Counts, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SectionsSeed<'_> {
    type Value = Counts;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of sections")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Counts, A::Error> {
        let mut counts: Counts = Vec::new();
        self.budget.reset("a section name");
        while let Some(name) = map.next_key::<String>()? {
            // A second copy would be loaded twice or shadow the first: refused, not merged.
            if counts.iter().any(|(seen, _)| *seen == name) {
                return Err(de::Error::custom(format!(
                    "section {name} appears twice in the archive"
                )));
            }
            let rows = map.next_value_seed(RowsSeed {
                sink: &mut *self.sink,
                section: &name,
                budget: self.budget,
            })?;
            counts.push((name, rows));
            self.budget.reset("a section name");
        }
        Ok(counts)
    }
}

/// A section: an array of objects, counted and handed to the sink.
struct RowsSeed<'s> {
    sink: &'s mut dyn ArchiveSink,
    section: &'s str,
    budget: &'s Budget,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0;
        self.budget.reset(self.section);
        self.budget.next_row(n);
        while let Some(row) = seq.next_element::<Box<RawValue>>()? {
            if !row.get().starts_with('{') {
                return Err(de::Error::custom(format!(
                    "row {} of section {} is not an object",
                    n + 1,
                    self.section
                )));
            }
            self.sink
                .row(self.section, row.get())
                .map_err(de::Error::custom)?;
            n += 1;
            self.budget.next_row(n);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(text: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    const GOOD: &str = r#"{"manifest":{"format":"orgexport/1","export_id":"x","sections":[{"name":"a.b","record_count":2},{"name":"c.d","record_count":0}]},"sections":{"a.b":[{"id":1},{"id":2,"v":[1,{"x":null}]}],"c.d":[]}}"#;

    #[test]
    fn a_good_archive_passes() {
        let v = verify_archive(&gzip(GOOD)[..]);
        assert!(v.ok(), "{:?}", v.problems);
        assert_eq!((v.sections, v.records), (2, 2));
    }

    #[test]
    fn count_order_and_layout_problems_are_reported() {
        let tampered = GOOD.replace("\"record_count\":2", "\"record_count\":3");
        let v = verify_archive(&gzip(&tampered)[..]);
        assert!(
            v.problems[0].contains("section a.b holds 2 rows, the manifest says 3"),
            "{:?}",
            v.problems
        );
        let sections_first = r#"{"sections":{},"manifest":{}}"#;
        let v = verify_archive(&gzip(sections_first)[..]);
        assert!(
            v.problems[0].contains("manifest must come first"),
            "{:?}",
            v.problems
        );
        let not_objects = GOOD.replace("{\"id\":1}", "1");
        assert!(!verify_archive(&gzip(&not_objects)[..]).ok());
    }

    #[test]
    fn truncated_and_corrupt_gzip_are_reported() {
        let data = gzip(GOOD);
        let v = verify_archive(&data[..data.len() - 10]);
        assert!(!v.ok());
        let mut flipped = data.clone();
        flipped[20] ^= 0x40;
        assert!(!verify_archive(&flipped[..]).ok());
    }
}
