//! Reading an archive back: decompress, parse, and the structural and row-level assertions
//! every scope test makes (manifest first, counts exact, a section equal to independent SQL).
//! It does not produce archives; `cli.rs` runs the tool that does.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::cli::Run;
use super::cluster::TestDb;

/// A decoded archive.
pub struct Archive {
    /// The whole decompressed document, for "this string appears nowhere" checks.
    pub text: String,
    pub manifest: Value,
    pub sections: BTreeMap<String, Vec<Value>>,
    /// Top-level keys in document order.
    pub keys: Vec<String>,
    /// Section names in document order.
    pub section_order: Vec<String>,
}

impl Archive {
    /// Fails naming the first of `markers` found anywhere in the document.
    pub fn assert_absent(&self, markers: &[&str]) {
        for marker in markers {
            assert!(
                !self.text.contains(marker),
                "{marker} leaked into the archive"
            );
        }
    }

    pub fn read(path: &Path) -> Archive {
        let file = std::fs::File::open(path).unwrap();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(file)
            .read_to_string(&mut text)
            .expect("the archive is valid gzip holding UTF-8");
        let doc: serde_json::Map<String, Value> =
            serde_json::from_str(&text).expect("the archive is one valid JSON object");
        let keys: Vec<String> = doc.keys().cloned().collect();
        let manifest = doc["manifest"].clone();
        let sections_obj = doc["sections"].as_object().expect("sections is an object");
        let section_order = sections_obj.keys().cloned().collect();
        let sections = sections_obj
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_array().expect("a section is an array").clone(),
                )
            })
            .collect();
        Archive {
            text,
            manifest,
            sections,
            keys,
            section_order,
        }
    }

    /// The archive a successful run printed the link of.
    #[track_caller]
    pub fn from_run(run: &Run) -> Archive {
        Archive::read(&Archive::path_from_run(run))
    }

    /// The file a successful run printed the link of.
    #[track_caller]
    pub fn path_from_run(run: &Run) -> PathBuf {
        if run.code != 0 {
            run.fail(&["the export failed".to_string()]);
        }
        let link = run.last_stdout_line();
        url::Url::parse(link)
            .ok()
            .and_then(|url| url.to_file_path().ok())
            .unwrap_or_else(|| {
                run.fail(&[format!("the last stdout line is not a file URL: {link:?}")])
            })
    }

    /// Every section's rows as a sorted list of JSON texts: rows compared as multisets.
    pub fn row_sets(&self) -> BTreeMap<String, Vec<String>> {
        self.sections
            .iter()
            .map(|(name, rows)| {
                let mut rows: Vec<String> = rows.iter().map(Value::to_string).collect();
                rows.sort();
                (name.clone(), rows)
            })
            .collect()
    }

    pub fn section(&self, name: &str) -> &Vec<Value> {
        self.sections
            .get(name)
            .unwrap_or_else(|| panic!("no section {name}; have {:?}", self.section_order))
    }

    pub fn manifest_section(&self, name: &str) -> &Value {
        self.manifest["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no manifest section {name}"))
    }

    /// Structural checks every archive must pass: manifest first, sections in manifest order,
    /// every count exact.
    pub fn assert_well_formed(&self) {
        assert_eq!(
            self.keys,
            vec!["manifest", "sections"],
            "manifest first, then sections"
        );
        assert_eq!(self.manifest["format"], "orgexport/1");
        let names: Vec<String> = self.manifest["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names, self.section_order,
            "payload sections follow the manifest's order"
        );
        for s in self.manifest["sections"].as_array().unwrap() {
            let name = s["name"].as_str().unwrap();
            assert_eq!(
                s["record_count"].as_u64().unwrap() as usize,
                self.sections[name].len(),
                "record_count of {name}"
            );
        }
    }

    /// The section holds exactly the rows of `sql` (an independent query), in any order.
    pub fn assert_section_equals(&self, db: &TestDb, name: &str, sql: &str) {
        let mut expected: Vec<String> = db.json_rows(sql).iter().map(|v| v.to_string()).collect();
        let mut actual: Vec<String> = self.section(name).iter().map(|v| v.to_string()).collect();
        expected.sort();
        actual.sort();
        assert_eq!(
            actual.len(),
            expected.len(),
            "{name}: {} rows in the archive, {} by independent SQL",
            actual.len(),
            expected.len()
        );
        assert_eq!(actual, expected, "{name}: rows differ from independent SQL");
    }

    /// The archive holds exactly these sections.
    pub fn assert_sections(&self, expected: &[&str]) {
        let mut have: Vec<&str> = self.section_order.iter().map(String::as_str).collect();
        let mut want = expected.to_vec();
        have.sort();
        want.sort();
        assert_eq!(have, want, "sections of the archive");
    }
}

/// The whole decompressed JSON document of a (small, test-made) archive, to edit.
pub fn read_doc(path: &Path) -> Value {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Writes `doc` as a gzipped archive `name` in `dir`.
pub fn write_doc(doc: &Value, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::fast(),
    );
    serde_json::to_writer(&mut gz, doc).unwrap();
    gz.finish().unwrap();
    path
}
