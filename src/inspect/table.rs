//! Text tables for people (`inspect`, `diff`, `orgs`): columns as wide as their widest cell,
//! numbers right-aligned; and the manifest of an archive laid out as one. Pure.

use serde_json::Value;

/// Rows of cells under a header; [`TextTable::lines`] aligns them.
pub struct TextTable {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl TextTable {
    /// Columns by name; a name starting with `>` is right-aligned (counts).
    pub fn new(columns: &[&str]) -> TextTable {
        TextTable {
            header: columns
                .iter()
                .map(|c| c.trim_start_matches('>').to_string())
                .collect(),
            right: columns.iter().map(|c| c.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn lines(&self) -> Vec<String> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        std::iter::once(&self.header)
            .chain(&self.rows)
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .enumerate()
                    .map(|(i, cell)| {
                        let last = i + 1 == row.len();
                        match (self.right[i], last) {
                            (true, _) => format!("{cell:>w$}", w = widths[i]),
                            (false, true) => cell.clone(),
                            (false, false) => format!("{cell:<w$}", w = widths[i]),
                        }
                    })
                    .collect();
                cells.join("  ")
            })
            .collect()
    }
}

/// The manifest as `inspect` prints it: what the archive is, then one line per section —
/// rows, capped (with the total in scope), cross-tenant rows left out, columns, excluded
/// columns. With `columns`, each section's columns and types follow the table.
pub fn manifest_lines(manifest: &Value, columns: bool) -> Vec<String> {
    let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
    let org = &manifest["org"];
    let mut lines = vec![
        format!("export     {}", text(&manifest["export_id"])),
        format!(
            "org        {} (key {} in {})",
            text(&org["lookup"]),
            text(&org["key"]),
            text(&org["table"])
        ),
        format!(
            "snapshot   {} (generated {})",
            text(&manifest["snapshot_at"]),
            text(&manifest["generated_at"])
        ),
        format!(
            "format     {}, orgexport {}, PostgreSQL {}",
            text(&manifest["format"]),
            text(&manifest["tool_version"]),
            text(&manifest["server_version"])
        ),
    ];
    let sections = manifest["sections"].as_array().map_or(&[][..], |s| s);
    let rows: u64 = sections
        .iter()
        .filter_map(|s| s["record_count"].as_u64())
        .sum();
    lines.push(format!(
        "contents   {} sections, {rows} rows",
        sections.len()
    ));
    lines.push(String::new());
    let mut table = TextTable::new(&[
        "SECTION",
        ">ROWS",
        "CAPPED",
        ">CROSS-TENANT",
        ">COLUMNS",
        "EXCLUDED",
    ]);
    for s in sections {
        table.row(section_cells(s));
    }
    lines.extend(table.lines());
    if columns {
        for s in sections {
            lines.push(String::new());
            lines.push(format!("{}:", text(&s["name"])));
            for c in s["columns"].as_array().map_or(&[][..], |c| c) {
                lines.push(format!("  {} {}", text(&c["name"]), text(&c["type"])));
            }
        }
    }
    lines
}

fn section_cells(s: &Value) -> Vec<String> {
    let count = |v: &Value| v.as_u64().map_or("-".to_string(), |n| n.to_string());
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().or(c["name"].as_str()))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let capped = if s["capped"].as_bool() == Some(true) {
        format!("yes, of {}", count(&s["total_count"]))
    } else {
        "no".to_string()
    };
    let excluded = names(&s["excluded_columns"]);
    vec![
        s["name"].as_str().unwrap_or("?").to_string(),
        count(&s["record_count"]),
        capped,
        count(&s["cross_tenant_rows"]),
        names(&s["columns"]).len().to_string(),
        if excluded.is_empty() {
            "-".to_string()
        } else {
            excluded.join(", ")
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_counts_go_right() {
        let mut t = TextTable::new(&["NAME", ">ROWS", "NOTE"]);
        t.row(vec!["public.tasks".into(), "5".into(), "x".into()]);
        t.row(vec!["a.b".into(), "1200".into(), "".into()]);
        assert_eq!(
            t.lines(),
            [
                "NAME          ROWS  NOTE",
                "public.tasks     5  x",
                "a.b           1200  "
            ]
        );
    }
}
