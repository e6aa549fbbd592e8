//! Talking to PostgreSQL: connection options and the advisory lock.

pub mod connect;
pub mod lock;
pub mod tls;

/// Quotes an identifier the way `quote_ident` does: always, so that capitals, spaces, quotes
/// and reserved words survive. The one function that builds identifiers into SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
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
}
