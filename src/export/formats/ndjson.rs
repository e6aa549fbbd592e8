//! NDJSON (`--format ndjson`): one gzip stream of JSON lines. Line 1 is the manifest (the
//! same object the JSON document opens with); every further line is one row,
//! `{"section":"schema.table","row":{…}}`, sections in manifest order. A row line names its
//! section so that a consumer can stream the file line by line without state
//! (`jq -c 'select(.section == "public.tasks") | .row'`); gzip makes the repeated name
//! nearly free. A section without rows has no line: the manifest says how many rows each has.
//!
//! Writing the row lines is the archive writer's with [`super::Framing::Lines`]; here: the
//! manifest line on upload, and reading the lines back.

use std::borrow::Cow;
use std::io::BufRead;

use anyhow::Context;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::SectionOrder;
use crate::export::archive::{Frame, Manifest, gzip};
use crate::export::reading::{ArchiveSink, Budget, read_failure};

/// The manifest line, before the spooled row lines.
pub fn frame(manifest: &Manifest, level: u32) -> anyhow::Result<Frame> {
    let mut head = serde_json::to_vec(manifest).context("serializing the manifest")?;
    head.push(b'\n');
    Ok(Frame {
        head: gzip(&head, level)?,
        around: Vec::new(),
        tail: Vec::new(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow)]
    section: Cow<'a, str>,
    #[serde(borrow)]
    row: &'a RawValue,
}

/// Reads the decompressed lines: the manifest, then the rows, each handed to `sink`.
pub fn read(
    input: &mut dyn BufRead,
    sink: &mut dyn ArchiveSink,
    budget: &Budget,
) -> Result<(Value, Vec<(String, u64)>), String> {
    budget.reset("the manifest");
    let mut line = Vec::new();
    input
        .read_until(b'\n', &mut line)
        .map_err(|e| read_failure(&e, budget))?;
    let manifest: Value = serde_json::from_slice(&line)
        .map_err(|e| format!("invalid archive: line 1 is not the manifest: {e}"))?;
    sink.manifest(&manifest)?;
    let mut order = SectionOrder::of(&manifest)?;
    let mut current = String::new();
    for number in 2u64.. {
        line.clear();
        budget.next_item();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| read_failure(&e, budget))?;
        if n == 0 {
            break;
        }
        let parsed: Line = serde_json::from_slice(&line)
            .map_err(|e| format!("invalid archive: line {number} is not a row line: {e}"))?;
        if parsed.section != current {
            order.enter(&parsed.section)?;
            current = parsed.section.to_string();
            budget.reset(&current);
        }
        let row = order.row();
        budget.next_row(row + 1);
        if !parsed.row.get().starts_with('{') {
            return Err(format!(
                "row {} of section {current} is not an object",
                row + 1
            ));
        }
        sink.row(&current, parsed.row.get())?;
    }
    Ok((manifest, order.into_counts()))
}
