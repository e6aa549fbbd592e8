//! An archive as a stream of rows by section — the one interface `cat` and `diff` read
//! through, so that another archive format (NDJSON, CSV, Parquet members) plugs in as another
//! [`RowReader`] without touching them. Today's one format, gzipped JSON (`orgexport/1`), is
//! read by the streaming verifier ([`crate::export::verify::read_archive`]): bounded memory,
//! every row checked to be an object, counts checked against the manifest, an oversized row
//! refused unread.

use std::io::Read;

use serde_json::Value;

use crate::error::{Kind, fail};
use crate::export::verify::{ArchiveSink, DEFAULT_MAX_VALUE_BYTES, read_archive};

/// Whether to go on reading after a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Enough: the rest of the archive is not decoded.
    Stop,
}

/// What a reader hands on, in archive order: the manifest, then each section's rows (the
/// row's JSON object as text).
pub trait RowVisitor {
    fn manifest(&mut self, manifest: &Value) -> anyhow::Result<()>;
    fn row(&mut self, section: &str, json: &str) -> anyhow::Result<Flow>;
}

/// An archive format's reader.
pub trait RowReader {
    /// Reads `raw` (the archive's bytes) to the end, or until the visitor stops it; a
    /// damaged archive is an error naming `shown`.
    fn read(
        &self,
        raw: Box<dyn Read + Send>,
        visitor: &mut dyn RowVisitor,
        shown: &str,
    ) -> anyhow::Result<()>;
}

/// The gzipped JSON document of `orgexport/1`.
pub struct JsonArchive;

impl RowReader for JsonArchive {
    fn read(
        &self,
        raw: Box<dyn Read + Send>,
        visitor: &mut dyn RowVisitor,
        shown: &str,
    ) -> anyhow::Result<()> {
        let mut sink = Adapter {
            visitor,
            failed: None,
            stopped: false,
        };
        let verdict = read_archive(raw, &mut sink, DEFAULT_MAX_VALUE_BYTES);
        if let Some(err) = sink.failed {
            return Err(err);
        }
        match verdict.problems.first() {
            Some(_) if sink.stopped => Ok(()),
            Some(problem) => Err(fail(
                Kind::ExportFailed,
                format!("{shown} is not a sound archive: {problem}"),
            )),
            None => Ok(()),
        }
    }
}

/// The reader for an archive. One format today; the format's name will pick the reader.
pub fn reader_for(_manifest: &Value) -> Box<dyn RowReader> {
    Box::new(JsonArchive)
}

/// Turns a visitor into the verifier's sink: a stop or a failure ends the read with an
/// error the verdict records, told apart here by what the adapter remembers.
struct Adapter<'v> {
    visitor: &'v mut dyn RowVisitor,
    failed: Option<anyhow::Error>,
    stopped: bool,
}

impl ArchiveSink for Adapter<'_> {
    fn manifest(&mut self, manifest: &Value) -> Result<(), String> {
        self.visitor.manifest(manifest).map_err(|e| {
            self.failed = Some(e);
            "stopped".to_string()
        })
    }

    fn row(&mut self, section: &str, json: &str) -> Result<(), String> {
        match self.visitor.row(section, json) {
            Ok(Flow::Continue) => Ok(()),
            Ok(Flow::Stop) => {
                self.stopped = true;
                Err("stopped".into())
            }
            Err(e) => {
                self.failed = Some(e);
                Err("stopped".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(text: &str) -> Box<dyn Read + Send> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        Box::new(std::io::Cursor::new(e.finish().unwrap()))
    }

    struct Collect(Vec<(String, String)>, usize);
    impl RowVisitor for Collect {
        fn manifest(&mut self, _: &Value) -> anyhow::Result<()> {
            Ok(())
        }
        fn row(&mut self, section: &str, json: &str) -> anyhow::Result<Flow> {
            self.0.push((section.into(), json.into()));
            Ok(if self.0.len() == self.1 {
                Flow::Stop
            } else {
                Flow::Continue
            })
        }
    }

    const DOC: &str = r#"{"manifest":{"format":"orgexport/1","export_id":"x","sections":[{"name":"a.b","record_count":2},{"name":"c.d","record_count":1}]},"sections":{"a.b":[{"id":1},{"id":2}],"c.d":[{"id":3}]}}"#;

    #[test]
    fn rows_come_in_order_and_a_stop_is_not_a_failure() {
        let mut all = Collect(vec![], 0);
        JsonArchive.read(gzip(DOC), &mut all, "a").unwrap();
        assert_eq!(all.0.len(), 3);
        assert_eq!(all.0[2], ("c.d".into(), r#"{"id":3}"#.into()));
        let mut one = Collect(vec![], 1);
        JsonArchive.read(gzip(DOC), &mut one, "a").unwrap();
        assert_eq!(one.0.len(), 1);
        let lying = DOC.replace(r#""record_count":1"#, r#""record_count":5"#);
        let err = JsonArchive
            .read(gzip(&lying), &mut Collect(vec![], 0), "a")
            .unwrap_err();
        assert!(
            err.to_string().contains("a is not a sound archive"),
            "{err}"
        );
    }
}
