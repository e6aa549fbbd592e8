//! Date windows (`--since`, `--until`): parsing a bound (`30d` ago, `2026-01-01`, an RFC 3339
//! timestamp) into an absolute UTC instant, finding each table's time column (config
//! `time_columns`, else the first of [`TIME_COLUMN_CANDIDATES`] with a timestamp or date
//! type), and the condition that keeps a row in the window. Which rows are kept besides —
//! rows the windowed rows reference — is `narrowing.rs`'s.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::db::{quote_ident, quote_literal};
use crate::error::{Kind, fail};
use crate::scope::catalog::{Catalog, Table, TableId};

/// Column names taken as a row's creation time when `time_columns` does not name one.
pub const TIME_COLUMN_CANDIDATES: &[&str] = &[
    "created_at",
    "inserted_at",
    "createdAt",
    "created",
    "created_on",
    "createdOn",
    "creation_date",
    "date_created",
    "insertedAt",
];

/// `since <= time < until`, either end open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    /// `--since`/`--until` as typed, relative to `now`; an empty window is a usage error.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Window>> {
        let bound = |flag: &str, text: Option<&str>| -> anyhow::Result<Option<DateTime<Utc>>> {
            text.map(|t| parse_bound(t, now).map_err(|e| fail(Kind::Usage, format!("{flag} {e}"))))
                .transpose()
        };
        let window = Window {
            since: bound("--since", since)?,
            until: bound("--until", until)?,
        };
        if let (Some(s), Some(u)) = (window.since, window.until)
            && s >= u
        {
            return Err(fail(
                Kind::Usage,
                format!(
                    "--since {} is not before --until {}: the window is empty",
                    rfc3339(s),
                    rfc3339(u)
                ),
            ));
        }
        Ok((window != Window::default()).then_some(window))
    }

    /// `alias.col >= '…' AND alias.col < '…'`, the bounds as UTC instants; a timestamp
    /// without time zone or a date is read as UTC, as the snapshot's session runs in UTC.
    pub fn condition(&self, table: &Table, column: &str, alias: &str) -> String {
        let col = format!("{alias}.{}", quote_ident(column));
        let type_name = table.column(column).map_or("", |c| c.type_name.as_str());
        let value = |at: DateTime<Utc>| {
            let instant = format!("{}::timestamptz", quote_literal(&rfc3339(at)));
            if type_name.starts_with("timestamp with time zone") {
                instant
            } else {
                format!("({instant} AT TIME ZONE 'UTC')")
            }
        };
        let mut terms = Vec::new();
        if let Some(since) = self.since {
            terms.push(format!("{col} >= {}", value(since)));
        }
        if let Some(until) = self.until {
            terms.push(format!("{col} < {}", value(until)));
        }
        terms.join(" AND ")
    }

    /// `{"since": "…", "until": null}` for the manifest.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "since": self.since.map(rfc3339),
            "until": self.until.map(rfc3339),
        })
    }
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `30d`, `12h` (that long before `now`), `2026-01-01` (midnight UTC) or an RFC 3339
/// timestamp.
pub fn parse_bound(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    match humantime::parse_duration(text) {
        Ok(ago) => chrono::Duration::from_std(ago)
            .ok()
            .and_then(|ago| now.checked_sub_signed(ago))
            .ok_or_else(|| format!("{text:?} reaches too far back")),
        Err(_) => Err(format!(
            "{text:?} is neither a duration nor a date; write e.g. 30d, 2026-01-01 or 2026-01-01T09:00:00Z"
        )),
    }
}

fn is_time_type(type_name: &str) -> bool {
    type_name.starts_with("timestamp") || type_name == "date"
}

/// The time column of each table in `tables`: configured (`schema.table.column`, which must
/// exist and be a timestamp or date — else a usage error naming the entry), else discovered.
pub fn time_columns(
    catalog: &Catalog,
    tables: &[TableId],
    configured: &[String],
) -> anyhow::Result<Vec<(TableId, String)>> {
    let mut chosen: Vec<(TableId, String)> = Vec::new();
    for entry in configured {
        let found = entry.rsplit_once('.').and_then(|(table, column)| {
            let t = catalog.find(table)?;
            let c = catalog.table(t).column(column)?;
            is_time_type(&c.type_name).then(|| (t, column.to_string()))
        });
        match found {
            Some(pair) => chosen.push(pair),
            None => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "time_columns entry {entry:?} names no timestamp or date column of a table"
                    ),
                ));
            }
        }
    }
    for &table in tables {
        if chosen.iter().any(|(t, _)| *t == table) {
            continue;
        }
        let t = catalog.table(table);
        if let Some(c) = TIME_COLUMN_CANDIDATES
            .iter()
            .filter_map(|name| t.column(name))
            .find(|c| is_time_type(&c.type_name))
        {
            chosen.push((table, c.name.clone()));
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_durations_dates_or_timestamps() {
        let now = DateTime::parse_from_rfc3339("2026-03-31T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            rfc3339(parse_bound("30d", now).unwrap()),
            "2026-03-01T12:00:00Z"
        );
        assert_eq!(
            rfc3339(parse_bound("2026-01-01", now).unwrap()),
            "2026-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339(parse_bound("2026-01-01T09:00:00+02:00", now).unwrap()),
            "2026-01-01T07:00:00Z"
        );
        assert!(parse_bound("last tuesday", now).is_err());
        assert!(Window::parse(Some("2026-02-01"), Some("2026-01-01"), now).is_err());
        assert_eq!(Window::parse(None, None, now).unwrap(), None);
    }
}
