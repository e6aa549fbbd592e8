//! The archive formats (`--format`, config `format`): their names and the file extension
//! each gives the archive's object name. A plain fact that the settings, the store's layout
//! and the export share, kept below all three; writing and reading each format is
//! `export::formats`'s.

use std::fmt;

/// How an export's archive is laid out (README "Formats"). `ValueEnum`: `--format`'s
/// values, as help, man page and completions list them.
/// What an age-encrypted archive's name ends with: `<id><extension>.age` (`encryption`).
pub const ENCRYPTED_SUFFIX: &str = ".age";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// One gzipped JSON document, `orgexport/1` (DESIGN §4).
    #[default]
    Json,
    /// Gzipped JSON lines: the manifest, then one line per row.
    Ndjson,
    /// A tar.gz bundle: `manifest.json`, then one RFC 4180 CSV file per section.
    Csv,
    /// A tar.gz bundle: `manifest.json`, then one Parquet file per section.
    Parquet,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Json, Format::Ndjson, Format::Csv, Format::Parquet];

    /// As typed on the command line and recorded in the sidecar and history.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// The archive's file extension, with its dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => ".json.gz",
            Format::Ndjson => ".ndjson.gz",
            Format::Csv => ".csv.tar.gz",
            Format::Parquet => ".parquet.tar.gz",
        }
    }

    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The format an archive's file name says, and the name without its extension.
    pub fn of_file_name(name: &str) -> Option<(Format, &str)> {
        // An encrypted archive's format is the plaintext's.
        let name = name.strip_suffix(ENCRYPTED_SUFFIX).unwrap_or(name);
        // Longest first: `.csv.tar.gz` is not read as some `.tar.gz`.
        Format::ALL
            .into_iter()
            .find_map(|f| name.strip_suffix(f.extension()).map(|stem| (f, stem)))
    }

    /// The bundle formats hold one file per section (with its digest in the manifest).
    pub fn is_bundle(self) -> bool {
        matches!(self, Format::Csv | Format::Parquet)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_extensions_round_trip() {
        for format in Format::ALL {
            assert_eq!(Format::parse(format.name()), Some(format));
            let file = format!("abc{}", format.extension());
            assert_eq!(Format::of_file_name(&file), Some((format, "abc")));
        }
        assert_eq!(Format::of_file_name("abc.tar.gz"), None);
        assert_eq!(Format::parse("xlsx"), None);
    }
}
