//! Secrets by content (DESIGN §3): which exported columns of a section are sampled, the one
//! bounded query per table that reads them from the org's own in-scope rows, and the
//! section that results once the columns judged secret by `secrets::judge_column` are moved
//! to `excluded_columns` with their reason. Running the query (inside the export's snapshot,
//! or `plan`'s) is the caller's; json values are not sampled — their members are judged one
//! by one while rendering.

use crate::db::quote_ident;
use crate::scope::catalog::{Catalog, Column};
use crate::scope::config::glob_matches;
use crate::scope::model::{Scope, Section};
use crate::scope::plan::{OrgKey, Planner, SectionSql};
use crate::scope::secrets::{Sampled, judge_column};

/// Values sampled per column (DESIGN §3: bounded, one query per table).
pub const SAMPLE_ROWS: usize = 200;
/// Keys read from each reference into a referenced table for its sample: ten per sampled
/// row, so that rows referenced many times still leave room for others.
const SAMPLE_KEYS: usize = SAMPLE_ROWS * 10;
/// Characters (bytes for bytea) of each value read: enough for any key or token.
const SAMPLE_WIDTH: usize = 4096;

/// The exported columns of a section worth sampling: text and bytea (not json, xml or
/// composite, judged value by value when rendered; not arrays), neither a reference key nor
/// allowed by `allow_columns`.
pub fn sampled_columns<'c>(
    catalog: &'c Catalog,
    scope: &Scope,
    section: &Section,
) -> Vec<&'c Column> {
    let table = catalog.table(section.table);
    section
        .columns
        .iter()
        .filter_map(|name| table.column(name))
        .filter(|c| c.text_like && !c.json_like && !c.type_name.ends_with("[]"))
        .filter(|c| {
            !scope.references.iter().any(|r| {
                (r.table == section.table && r.columns.contains(&c.name))
                    || (r.target == section.table && r.target_columns.contains(&c.name))
            })
        })
        .filter(|c| {
            !glob_matches(
                &scope.allow_columns,
                &format!("{}.{}", table.qualified_name(), c.name),
            )
        })
        .collect()
}

/// `WITH … SELECT left(t.a::text, 4096), substring(t.b from 1 for 4096) FROM (<the
/// section's rows>) LIMIT 200`: the org's own in-scope rows only, never another org's.
pub fn sample_sql(
    planner: &Planner<'_>,
    section: &Section,
    org: &OrgKey,
    columns: &[&Column],
) -> String {
    planner.rows_sql(
        section,
        org,
        &sample_exprs(columns),
        (SAMPLE_ROWS, SAMPLE_KEYS),
    )
}

/// The section's exact count beside a sample like [`sample_sql`]'s, in one pass (`plan`,
/// which counts every section anyway): one array of up to 200 values per column, in order.
pub fn count_and_sample_sql(sql: &SectionSql, columns: &[&Column]) -> String {
    let raw: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(j, c)| format!("t.{} AS c{j}", quote_ident(&c.name)))
        .collect();
    let aggregates: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let value = if c.type_name.starts_with("bytea") {
                format!("substring(r.c{j} from 1 for {SAMPLE_WIDTH})")
            } else {
                format!("left(r.c{j}::text, {SAMPLE_WIDTH})")
            };
            format!("array_agg({value}) FILTER (WHERE r.rn_ <= {SAMPLE_ROWS})")
        })
        .collect();
    sql.count_and_sample(&raw.join(", "), &aggregates.join(", "))
}

fn sample_exprs(columns: &[&Column]) -> String {
    let exprs: Vec<String> = columns
        .iter()
        .map(|c| {
            let col = format!("t.{}", quote_ident(&c.name));
            if c.type_name.starts_with("bytea") {
                format!("substring({col} from 1 for {SAMPLE_WIDTH})")
            } else {
                format!("left({col}::text, {SAMPLE_WIDTH})")
            }
        })
        .collect();
    exprs.join(", ")
}

/// The section with the columns whose sampled values are secrets moved to
/// `excluded_columns`, each with its reason. `rows[i][j]` is row i's value of `columns[j]`.
pub fn exclude_by_content(
    section: &Section,
    columns: &[&Column],
    rows: &[Vec<Option<Vec<u8>>>],
) -> Section {
    with_exclusions(section, &judge_sampled(columns, rows))
}

/// The columns whose sampled values are secrets, each with the reason: (column, reason).
/// `rows[i][j]` is row i's value of `columns[j]`, as [`sample_value`] cuts it.
pub fn judge_sampled(columns: &[&Column], rows: &[Vec<Option<Vec<u8>>>]) -> Vec<(String, String)> {
    let mut verdicts = Vec::new();
    for (j, column) in columns.iter().enumerate() {
        let bytea = column.type_name.starts_with("bytea");
        let values: Vec<Sampled<'_>> = rows
            .iter()
            .filter_map(|row| row.get(j).and_then(|v| v.as_deref()))
            .map(|v| match (bytea, std::str::from_utf8(v)) {
                (false, Ok(text)) => Sampled::Text(text),
                _ => Sampled::Bytes(v),
            })
            .collect();
        if let Some(verdict) = judge_column(&column.name, &values) {
            verdicts.push((column.name.clone(), verdict.reason));
        }
    }
    verdicts
}

/// The section with `excluded` (column, reason) moved to `excluded_columns`.
pub fn with_exclusions(section: &Section, excluded: &[(String, String)]) -> Section {
    let mut section = section.clone();
    for (column, reason) in excluded {
        section.columns.retain(|c| c != column);
        section.redact_json.retain(|c| c != column);
        section.excluded_columns.push(column.clone());
        section
            .exclusion_reasons
            .push((column.clone(), reason.clone()));
    }
    section
}

/// A value as the sample query reads it, from the value itself: a text's first
/// [`SAMPLE_WIDTH`] characters (`left(…, 4096)`), a bytea's first bytes.
pub fn sample_value(value: &[u8], bytea: bool) -> &[u8] {
    if bytea {
        return &value[..value.len().min(SAMPLE_WIDTH)];
    }
    // The byte where character SAMPLE_WIDTH + 1 starts (UTF-8: not a continuation byte).
    let end = value
        .iter()
        .enumerate()
        .filter(|(_, b)| (**b & 0xC0) != 0x80)
        .nth(SAMPLE_WIDTH)
        .map_or(value.len(), |(at, _)| at);
    &value[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::config::ScopeConfig;
    use crate::scope::rules::classify;
    use crate::scope::testing::Builder;

    #[test]
    fn keys_allowed_and_json_columns_are_not_sampled_and_secrets_move_with_a_reason() {
        let mut catalog = Builder::default()
            .table("public.orgs", &["id!"])
            .table(
                "public.bots",
                &["id!", "org_id!", "auth_key$", "name$", "settings$", "ref$"],
            )
            .table("public.refs", &["id$!"])
            .fk("public.bots", &["org_id"], "public.orgs", &["id"])
            .fk("public.bots", &["ref"], "public.refs", &["id"])
            .build();
        let bots = catalog.find("public.bots").unwrap();
        catalog.tables[bots].columns[4].json_like = true;
        let config = ScopeConfig {
            allow_columns: vec!["public.bots.name".into()],
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        let section = scope.section_of(bots).unwrap();
        let columns = sampled_columns(&catalog, &scope, section);
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["auth_key"]);
        let token = b"123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1".to_vec();
        let rows = vec![vec![Some(token)]; 3];
        let out = exclude_by_content(section, &columns, &rows);
        assert!(!out.columns.contains(&"auth_key".to_string()));
        assert_eq!(
            out.exclusion_reasons,
            [(
                "auth_key".to_string(),
                "content: Telegram bot token in 100% of 3 sampled values".to_string()
            )]
        );
    }
}
