//! What the operator asked the export to narrow to, as typed and checked for form only —
//! `--subject`/`--subject-email`, `--where`, `--columns` and the config keys of the same
//! names ([`NarrowConfig`]) — with nothing of the scope: resolving them against the catalog
//! and the scope is `narrowing.rs`'s, `filters.rs`'s and `subject.rs`'s.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{Kind, fail};
use crate::scope::window::Window;

/// What the operator asked for (flags and the config keys of the same names).
#[derive(Debug, Clone, Default)]
pub struct NarrowConfig {
    pub subject: Option<SubjectSpec>,
    pub subject_table: Option<String>,
    pub subject_email_column: Option<String>,
    pub window: Option<Window>,
    /// `schema.table.column` entries.
    pub time_columns: Vec<String>,
    pub filters: Vec<RowFilter>,
    pub columns: Vec<ColumnChoice>,
}

impl NarrowConfig {
    /// Whether anything narrows the export at all (the manifest then records it).
    pub fn any(&self) -> bool {
        self.subject.is_some()
            || self.window.is_some()
            || !self.filters.is_empty()
            || !self.columns.is_empty()
    }
}

/// What the operator typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectSpec {
    /// `--subject schema.table=KEY`: the primary key's value.
    Key { table: String, key: String },
    /// `--subject-email ADDR`: matched case-insensitively in the subject table's e-mail column.
    Email(String),
}

impl SubjectSpec {
    pub fn parse_key(text: &str) -> anyhow::Result<SubjectSpec> {
        match text.split_once('=') {
            Some((table, key)) if !table.trim().is_empty() && !key.is_empty() => {
                let table = table.trim();
                let table = if table.contains('.') {
                    table.to_string()
                } else {
                    format!("public.{table}")
                };
                Ok(SubjectSpec::Key {
                    table,
                    key: key.to_string(),
                })
            }
            _ => Err(fail(
                Kind::Usage,
                format!(
                    "--subject {text:?} is not TABLE=KEY; write e.g. --subject public.users=42"
                ),
            )),
        }
    }
}

/// `schema.table: predicate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFilter {
    pub table: String,
    pub predicate: String,
}

/// `schema.table: a, b, c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnChoice {
    pub table: String,
    pub columns: Vec<String>,
}

/// `schema.table: rest` — a name without a schema is in `public`.
fn split_entry<'t>(flag: &str, text: &'t str) -> anyhow::Result<(String, &'t str)> {
    let Some((table, rest)) = text.split_once(':') else {
        return Err(fail(
            Kind::Usage,
            format!("{flag} {text:?} names no table; write it as 'schema.table: …'"),
        ));
    };
    let table = table.trim();
    let table = if table.contains('.') {
        table.to_string()
    } else {
        format!("public.{table}")
    };
    Ok((table, rest.trim()))
}

impl RowFilter {
    pub fn parse(text: &str) -> anyhow::Result<RowFilter> {
        let (table, predicate) = split_entry("--where", text)?;
        if predicate.is_empty() {
            return Err(fail(
                Kind::Usage,
                format!("--where {text:?} has no predicate after the table name"),
            ));
        }
        check_one_expression(predicate).map_err(|why| {
            fail(
                Kind::Usage,
                format!("--where for {table}: {why}; write one SQL condition over the table's columns (the row is t)"),
            )
        })?;
        Ok(RowFilter {
            table,
            predicate: predicate.to_string(),
        })
    }
}

impl ColumnChoice {
    pub fn parse(text: &str) -> anyhow::Result<ColumnChoice> {
        let (table, list) = split_entry("--columns", text)?;
        let columns: Vec<String> = list
            .split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
        if columns.is_empty() {
            return Err(fail(
                Kind::Usage,
                format!("--columns {text:?} lists no column after the table name"),
            ));
        }
        Ok(ColumnChoice { table, columns })
    }
}

/// The predicate is put inside `( … )` and AND-ed with the scope's own conditions, so it must
/// not close that parenthesis (`true) OR (true` would widen the export to every row), end the
/// statement or hide the rest of it: brackets balanced outside literals, quoted names and
/// comments, no `;`, no comment (a `--` would swallow the closing parenthesis).
pub fn check_one_expression(predicate: &str) -> Result<(), String> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, predicate)
        .tokenize()
        .map_err(|e| format!("the predicate is not valid SQL ({e})"))?;
    let mut depth = 0i64;
    for token in &tokens {
        match token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => {
                depth -= 1;
                if depth < 0 {
                    return Err("the predicate closes a parenthesis it did not open".into());
                }
            }
            Token::SemiColon => return Err("the predicate holds a ';'".into()),
            Token::Whitespace(w)
                if !matches!(
                    w,
                    sqlparser::tokenizer::Whitespace::Space
                        | sqlparser::tokenizer::Whitespace::Tab
                        | sqlparser::tokenizer::Whitespace::Newline
                ) =>
            {
                return Err("the predicate holds a comment".into());
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("the predicate leaves a parenthesis open".into());
    }
    Ok(())
}
