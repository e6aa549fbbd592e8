//! Talking to PostgreSQL: connection options and the advisory lock.

pub mod connect;
pub mod guards;
pub mod lock;
pub mod options;
pub mod standby;
pub mod tls;

/// Quotes an identifier the way `quote_ident` does: always, so that capitals, spaces, quotes
/// and reserved words survive. The one function that builds identifiers into SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal the way `quote_literal` does: quotes doubled, and a string with a
/// backslash written as `E'…'` with the backslashes doubled, so that it reads back exactly
/// whatever `standard_conforming_strings` says. The one function that builds values into SQL
/// (COPY takes no bind parameters; a typed literal also lets the planner prune partitions).
pub fn quote_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    if value.contains('\\') {
        format!("E'{}'", quoted.replace('\\', r"\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// `"schema"."table"`.
pub fn quote_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted_and_quotes_doubled() {
        assert_eq!(quote_ident("org_id"), "\"org_id\"");
        assert_eq!(quote_ident("we\"ird; name"), "\"we\"\"ird; name\"");
        assert_eq!(
            quote_qualified("My Schema", "select"),
            "\"My Schema\".\"select\""
        );
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes() {
        assert_eq!(quote_literal("acme"), "'acme'");
        assert_eq!(quote_literal("o'brien"), "'o''brien'");
        assert_eq!(quote_literal(r"a\b'"), r"E'a\\b'''");
    }
}
