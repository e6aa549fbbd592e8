//! How each exported column is selected and what kind of JSON value it becomes: the render
//! mode (the server renders whole rows, or the client renders columns selected in binary),
//! each column type's [`ValueKind`], and the columns a section exports as the renderer needs
//! them. Plain facts that SQL generation (`plan.rs`) and the renderer (`export/render.rs`)
//! share; rendering the bytes is the renderer's, not this module's.

/// How rows are rendered (`render = "client" | "server"` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RenderMode {
    #[default]
    Client,
    Server,
}

/// How one column's binary value becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    Int2,
    Int4,
    Int8,
    /// text, varchar, bpchar, name: a JSON string.
    Text,
    /// json: its text, as is.
    Json,
    /// jsonb: a version byte, then its text.
    Jsonb,
    /// bytea: `"\\x…"` in hex, as `to_json` renders it (`bytea_output = hex`). Rendered
    /// here so that no value meets the server's 1 GB limit on the text it renders.
    Bytea,
    Numeric,
    Uuid,
    Date,
    Timestamp,
    Timestamptz,
    /// Anything else: the server renders it (`to_json(col)::text`).
    ServerJson,
}

impl ValueKind {
    pub fn of(type_oid: u32) -> ValueKind {
        match type_oid {
            16 => ValueKind::Bool,
            21 => ValueKind::Int2,
            23 => ValueKind::Int4,
            20 => ValueKind::Int8,
            // oid is not one of to_json's numeric types: it renders as a string, server-side.
            25 | 1043 | 1042 | 19 => ValueKind::Text,
            114 => ValueKind::Json,
            3802 => ValueKind::Jsonb,
            17 => ValueKind::Bytea,
            1700 => ValueKind::Numeric,
            2950 => ValueKind::Uuid,
            1082 => ValueKind::Date,
            1114 => ValueKind::Timestamp,
            1184 => ValueKind::Timestamptz,
            _ => ValueKind::ServerJson,
        }
    }

    /// The select-list expression for a column's value `expr` (`t."name"`) of this kind.
    pub fn select_expr(self, expr: &str) -> String {
        match self {
            ValueKind::ServerJson => format!("to_json({expr})::text"),
            _ => expr.to_string(),
        }
    }
}

/// One exported column, as the renderer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedColumn {
    pub name: String,
    /// `pg_type` OID: picks the column's [`ValueKind`].
    pub type_oid: u32,
    /// `format_type()`, as the manifest gives it: a numeric's precision and scale (Parquet
    /// decimals).
    pub type_name: String,
    /// An array's declared dimensions (`attndims`), 0 otherwise.
    pub dimensions: i32,
    /// json/jsonb whose secret keys are cut out (DESIGN §3).
    pub redact_json: bool,
    /// The value read instead of `t."name"`: a key/value table's value, redacted for the
    /// rows whose key is a secret.
    pub value_expr: Option<String>,
}
