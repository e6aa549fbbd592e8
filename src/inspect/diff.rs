//! Two archives of one org compared (`orgexport diff A B`): sections added and removed, row
//! counts, and rows added, removed and changed — matched by primary key where both manifests
//! record the same one, else by whole row (older archives record none) — in bounded memory.
//!
//! Each archive is read once as a row stream ([`super::rows`]); every row of a section both
//! hold becomes a small record (section, key, digest of the row) written to one of `P`
//! temporary partition files chosen by a hash of (section, key). Then each partition of A is
//! loaded into a hash map and B's same partition streamed against it. `P` grows with the
//! rows so that one partition holds about [`ROWS_PER_PARTITION`] records: memory is bounded
//! by that, not by the archives. Printing the result is the `diff` command's.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{BufReader, BufWriter, Read, Seek, Write};

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::format::RawRow;
use super::rows::{Flow, RowVisitor, reader_for};
use crate::error::{Kind, fail};
use crate::export::manifest::{ArchivedManifest, ArchivedSection};

/// Records per partition (≈100 bytes each in the map): about 5 MiB of memory at a time.
const ROWS_PER_PARTITION: u64 = 50_000;
/// At most this many partition files per archive (open at once while it is read).
const MAX_PARTITIONS: u64 = 512;
/// Keys of added, removed and changed rows shown per section.
const SAMPLES: usize = 5;

/// One archive to compare: its manifest (read from its head), its bytes, its name.
pub struct Side {
    pub manifest: Value,
    pub raw: Box<dyn Read + Send>,
    pub shown: String,
}

#[derive(Debug, Default, Serialize)]
pub struct SectionDiff {
    pub name: String,
    /// `added`, `removed`, `changed` or `unchanged`.
    pub status: &'static str,
    pub rows_a: Option<u64>,
    pub rows_b: Option<u64>,
    /// The primary key rows were matched by; `None`: by whole row.
    pub key: Option<Vec<String>>,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub columns_added: Vec<String>,
    pub columns_removed: Vec<String>,
    /// A few keys of each kind (`id=42`), for keyed sections.
    pub samples: Samples,
}

#[derive(Debug, Default, Serialize)]
pub struct Samples {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// Compares two archives of the same org. Blocking: run it off the async reactor.
pub fn diff(a: Side, b: Side) -> anyhow::Result<Vec<SectionDiff>> {
    let ma = ArchivedManifest::parse(&a.manifest).map_err(|e| unsound(&a.shown, &e))?;
    let mb = ArchivedManifest::parse(&b.manifest).map_err(|e| unsound(&b.shown, &e))?;
    if (&ma.org_table, &ma.org_key) != (&mb.org_table, &mb.org_key) {
        return Err(fail(
            Kind::Usage,
            format!(
                "{} is of org {} ({} {}) and {} of org {} ({} {}): diff compares two archives of the same org",
                a.shown,
                ma.org_lookup,
                ma.org_table,
                ma.org_key,
                b.shown,
                mb.org_lookup,
                mb.org_table,
                mb.org_key
            ),
        ));
    }
    let mut sections = Vec::new();
    let mut common = Vec::new();
    for sa in &ma.sections {
        match mb.sections.iter().find(|s| s.name == sa.name) {
            Some(sb) => {
                let key = (!sa.primary_key.is_empty() && sa.primary_key == sb.primary_key)
                    .then(|| sa.primary_key.clone());
                let shared = sa
                    .columns
                    .iter()
                    .filter(|c| sb.columns.contains(c))
                    .cloned()
                    .collect();
                common.push(Common {
                    name: sa.name.clone(),
                    key: key.clone(),
                    shared,
                });
                sections.push(compared(sa, sb, key));
            }
            None => sections.push(only_in(sa, "removed")),
        }
    }
    for sb in mb
        .sections
        .iter()
        .filter(|sb| ma.sections.iter().all(|sa| sa.name != sb.name))
    {
        sections.push(only_in(sb, "added"));
    }
    let most = ma.record_count().max(mb.record_count());
    let partitions = most.div_ceil(ROWS_PER_PARTITION).clamp(1, MAX_PARTITIONS) as usize;
    let spill_a = spill(a, &common, partitions)?;
    let spill_b = spill(b, &common, partitions)?;
    let mut tallies: Vec<Tally> = common.iter().map(|_| Tally::default()).collect();
    for (pa, pb) in spill_a.into_iter().zip(spill_b) {
        match_partition(pa, pb, &common, &mut tallies)?;
    }
    for (section, tally) in common.iter().zip(tallies) {
        let s = sections
            .iter_mut()
            .find(|s| s.name == section.name)
            .expect("listed");
        (s.added, s.removed, s.changed, s.unchanged) =
            (tally.added, tally.removed, tally.changed, tally.unchanged);
        s.samples = tally.samples;
    }
    for s in &mut sections {
        if s.status.is_empty() {
            let same_columns = s.columns_added.is_empty() && s.columns_removed.is_empty();
            s.status = if s.added + s.removed + s.changed == 0 && same_columns {
                "unchanged"
            } else {
                "changed"
            };
        }
    }
    Ok(sections)
}

fn unsound(shown: &str, problem: &str) -> anyhow::Error {
    fail(Kind::ExportFailed, format!("{shown}: {problem}"))
}

fn compared(sa: &ArchivedSection, sb: &ArchivedSection, key: Option<Vec<String>>) -> SectionDiff {
    SectionDiff {
        name: sa.name.clone(),
        rows_a: Some(sa.record_count),
        rows_b: Some(sb.record_count),
        key,
        columns_added: minus(&sb.columns, &sa.columns),
        columns_removed: minus(&sa.columns, &sb.columns),
        ..SectionDiff::default()
    }
}

fn only_in(s: &ArchivedSection, status: &'static str) -> SectionDiff {
    let (rows_a, rows_b, added, removed) = match status {
        "added" => (None, Some(s.record_count), s.record_count, 0),
        _ => (Some(s.record_count), None, 0, s.record_count),
    };
    SectionDiff {
        name: s.name.clone(),
        status,
        rows_a,
        rows_b,
        added,
        removed,
        ..SectionDiff::default()
    }
}

fn minus(left: &[String], right: &[String]) -> Vec<String> {
    left.iter()
        .filter(|c| !right.contains(c))
        .cloned()
        .collect()
}

/// What matching found in one section.
#[derive(Default)]
struct Tally {
    added: u64,
    removed: u64,
    changed: u64,
    unchanged: u64,
    samples: Samples,
}

/// A section both archives hold.
struct Common {
    name: String,
    /// The primary key both record; `None`: rows are matched whole.
    key: Option<Vec<String>>,
    /// The columns both archives have: a column added or dropped is reported as such, not
    /// as every row changed.
    shared: Vec<String>,
}

/// A row's record in a partition file: which common section, its key, its digest.
struct Record {
    section: u16,
    key: Vec<u8>,
    digest: [u8; 16],
}

/// Reads one archive, writing a record for each row of a section both archives hold into
/// the partition its (section, key) hashes to; returns the partition files, rewound.
fn spill(side: Side, common: &[Common], partitions: usize) -> anyhow::Result<Vec<std::fs::File>> {
    let mut files = Vec::with_capacity(partitions);
    for _ in 0..partitions {
        let file = tempfile::tempfile().context(
            "creating a temporary file for diff (set TMPDIR to a writable directory with room)",
        )?;
        files.push(BufWriter::new(file));
    }
    let mut spiller = Spiller {
        sections: common
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), (i as u16, c)))
            .collect(),
        files,
    };
    reader_for(&side.manifest).read(side.raw, &mut spiller, &side.shown)?;
    let mut rewound = Vec::with_capacity(partitions);
    for file in spiller.files {
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        rewound.push(file);
    }
    Ok(rewound)
}

struct Spiller<'c> {
    /// Section name → its index among the common sections, and what it compares.
    sections: HashMap<String, (u16, &'c Common)>,
    files: Vec<BufWriter<std::fs::File>>,
}

impl RowVisitor for Spiller<'_> {
    fn manifest(&mut self, _manifest: &Value) -> anyhow::Result<()> {
        Ok(())
    }

    fn row(&mut self, section: &str, json: &str) -> anyhow::Result<Flow> {
        let Some(&(index, common)) = self.sections.get(section) else {
            return Ok(Flow::Continue);
        };
        let row: RawRow = serde_json::from_str(json)
            .with_context(|| format!("reading a row of section {section}"))?;
        let digest = row_digest(&row, &common.shared);
        let key = match &common.key {
            Some(columns) => key_text(&row, columns).into_bytes(),
            None => digest.to_vec(),
        };
        let mut hasher = std::hash::DefaultHasher::new();
        (index, &key).hash(&mut hasher);
        let partition = (hasher.finish() % self.files.len() as u64) as usize;
        let file = &mut self.files[partition];
        file.write_all(&index.to_le_bytes())?;
        file.write_all(&(key.len() as u32).to_le_bytes())?;
        file.write_all(&key)?;
        file.write_all(&digest)
            .context("writing a temporary file for diff (is TMPDIR full?)")?;
        Ok(Flow::Continue)
    }
}

/// The digest of a row's values in `columns` (exact JSON text), whatever order the object
/// lists them in:
/// 128 bits of SipHash (two fixed-key passes), which tells two rows apart as surely as any
/// diff needs, at a fraction of SHA-256's cost.
fn row_digest(row: &RawRow, columns: &[String]) -> [u8; 16] {
    let mut halves = [0u8; 16];
    for (seed, half) in halves.chunks_mut(8).enumerate() {
        let mut hasher = std::hash::DefaultHasher::new();
        seed.hash(&mut hasher);
        for column in columns {
            row.get(column).map(|v| v.get()).hash(&mut hasher);
        }
        half.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    halves
}

/// The primary key's values as a JSON array, `[42]` (a column the row lacks is null).
fn key_text(row: &RawRow, columns: &[String]) -> String {
    let values: Vec<&str> = columns
        .iter()
        .map(|c| row.get(c).map_or("null", |v| v.get()))
        .collect();
    format!("[{}]", values.join(","))
}

/// `id=42`, `org_id=1,id=7`: a key as a person reads it.
fn key_shown(key: &[u8], columns: &[String]) -> String {
    let values: Vec<&RawValue> = serde_json::from_slice(key).unwrap_or_default();
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| format!("{c}={}", v.get()))
        .collect::<Vec<_>>()
        .join(",")
}

fn read_record(input: &mut impl Read) -> anyhow::Result<Option<Record>> {
    let mut section = [0u8; 2];
    match input.read_exact(&mut section) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e).context("reading a temporary file of diff"),
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let mut key = vec![0u8; u32::from_le_bytes(len) as usize];
    input.read_exact(&mut key)?;
    let mut digest = [0u8; 16];
    input.read_exact(&mut digest)?;
    Ok(Some(Record {
        section: u16::from_le_bytes(section),
        key,
        digest,
    }))
}

/// Matches one partition: A's records in a map (key → digest and how many rows have it),
/// B's streamed against it.
fn match_partition(
    a: std::fs::File,
    b: std::fs::File,
    common: &[Common],
    tallies: &mut [Tally],
) -> anyhow::Result<()> {
    let mut seen: HashMap<(u16, Vec<u8>), ([u8; 16], u32)> = HashMap::new();
    let mut input = BufReader::new(a);
    while let Some(r) = read_record(&mut input)? {
        seen.entry((r.section, r.key)).or_insert((r.digest, 0)).1 += 1;
    }
    let mut input = BufReader::new(b);
    while let Some(r) = read_record(&mut input)? {
        let tally = &mut tallies[r.section as usize];
        let columns = common[r.section as usize].key.as_deref();
        let entry = (r.section, r.key);
        match seen.get_mut(&entry) {
            Some((digest, left)) => {
                if *digest == r.digest {
                    tally.unchanged += 1;
                } else {
                    tally.changed += 1;
                    sample(&mut tally.samples.changed, &entry.1, columns);
                }
                *left -= 1;
                if *left == 0 {
                    seen.remove(&entry);
                }
            }
            None => {
                tally.added += 1;
                sample(&mut tally.samples.added, &entry.1, columns);
            }
        }
    }
    // Sorted, so that the samples do not depend on the hasher.
    let mut left: Vec<_> = seen.into_iter().collect();
    left.sort_unstable();
    for ((section, key), (_, count)) in left {
        let tally = &mut tallies[section as usize];
        tally.removed += u64::from(count);
        sample(
            &mut tally.samples.removed,
            &key,
            common[section as usize].key.as_deref(),
        );
    }
    Ok(())
}

fn sample(samples: &mut Vec<String>, key: &[u8], columns: Option<&[String]>) {
    if let Some(columns) = columns
        && samples.len() < SAMPLES
    {
        samples.push(key_shown(key, columns));
    }
}
