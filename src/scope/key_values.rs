//! Secrets by row (DESIGN §3): key/value settings tables (`event_settingsstore (key, value)`,
//! Rails `settings (var, value)`) keep `smtp_password` and `payment_stripe_secret_key` in the
//! same `value` column as `locale`. No column rule can catch them: the value of every row
//! whose key is a secret by the word rule is redacted — replaced by NULL (by `''` when the
//! column is NOT NULL, so the row still restores), the row and its key kept — and counted per
//! section (`redacted_values`). Which tables, and the SQL condition, are here; reading the
//! org's keys inside the snapshot is `export::content`'s.

use crate::db::{quote_ident, quote_literal};
use crate::scope::catalog::Table;
use crate::scope::secrets::is_secret_name;

/// Key column names, in order of preference, that sit beside a `value` column.
const KEY_COLUMNS: &[&str] = &["key", "var", "name"];

/// A section's key/value columns and, once the org's rows are read, the keys whose values are
/// redacted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValues {
    pub key_column: String,
    pub value_column: String,
    /// The org's keys that are secrets (filled inside the snapshot).
    pub secret_keys: Vec<String>,
    /// The org's rows whose value is redacted.
    pub redacted_values: u64,
    /// Whether the value column is NOT NULL: then `''` stands in for the value.
    value_not_null: bool,
}

/// The key/value columns of a table whose `value` column is exported: a text `key`, `var` or
/// `name` column beside a text-like `value` column.
pub fn detect(table: &Table, exported: &[String]) -> Option<KeyValues> {
    let value = table
        .column("value")
        .filter(|c| c.text_like && exported.contains(&c.name))?;
    let key = KEY_COLUMNS.iter().find_map(|name| {
        table
            .column(name)
            .filter(|c| c.text_like && !c.json_like && !c.type_name.starts_with("bytea"))
    })?;
    Some(KeyValues {
        key_column: key.name.clone(),
        value_column: value.name.clone(),
        secret_keys: Vec::new(),
        redacted_values: 0,
        value_not_null: value.not_null,
    })
}

impl KeyValues {
    /// With the org's keys and their row counts judged: the secret ones, and how many rows.
    pub fn judged(&self, keys: &[(String, i64)]) -> KeyValues {
        let secret: Vec<&(String, i64)> = keys.iter().filter(|(k, _)| is_secret_name(k)).collect();
        KeyValues {
            secret_keys: secret.iter().map(|(k, _)| k.clone()).collect(),
            redacted_values: secret.iter().map(|(_, n)| *n as u64).sum(),
            ..self.clone()
        }
    }

    /// `CASE WHEN t."key" IN ('smtp_password', …) THEN NULL ELSE t."value" END` for the value
    /// column, once there are secret keys; `None` otherwise.
    pub fn value_expr(&self, alias: &str, column: &str) -> Option<String> {
        if column != self.value_column || self.secret_keys.is_empty() {
            return None;
        }
        let keys: Vec<String> = self.secret_keys.iter().map(|k| quote_literal(k)).collect();
        let stand_in = if self.value_not_null { "''" } else { "NULL" };
        Some(format!(
            "CASE WHEN {alias}.{key}::text IN ({}) THEN {stand_in} ELSE {alias}.{value} END",
            keys.join(", "),
            key = quote_ident(&self.key_column),
            value = quote_ident(&self.value_column),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::testing::Builder;

    #[test]
    fn values_of_secret_keys_are_redacted_and_counted() {
        let catalog = Builder::default()
            .table("public.settings", &["id!", "key$!", "value$!"])
            .table("public.labels", &["id!", "value$"])
            .build();
        let table = catalog.table(0);
        let exported = vec!["id".into(), "key".into(), "value".into()];
        let kv = detect(table, &exported).unwrap();
        assert_eq!(detect(catalog.table(1), &exported), None);
        let judged = kv.judged(&[
            ("locale".into(), 1),
            ("smtp_password".into(), 2),
            ("payment_stripe_secret_key".into(), 1),
            ("payment_stripe_connect_refresh_token".into(), 1),
            ("timezone".into(), 1),
        ]);
        assert_eq!(judged.redacted_values, 4);
        assert_eq!(judged.secret_keys.len(), 3);
        let expr = judged.value_expr("t", "value").unwrap();
        assert!(
            expr.contains("'smtp_password'") && !expr.contains("locale"),
            "{expr}"
        );
        assert!(expr.contains("THEN '' ELSE"), "{expr}");
        assert_eq!(judged.value_expr("t", "key"), None);
    }
}
