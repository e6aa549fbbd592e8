//! The tenant schemas of a schema-per-tenant database, as data (DESIGN §11): each tenant's
//! schema and key, how they were decided, and which one the scope is classified for. How they
//! are found, and what they mean for classification, is `schemas.rs`'s.

/// One tenant: its schema and the key `--org` names it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSchema {
    pub schema: String,
    /// What the glob's `*` matched (`acme` of `tenant_acme`); the whole name when discovered.
    pub key: String,
}

/// The tenant schemas of a database and how they were decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaTenancy {
    /// In key order.
    pub tenants: Vec<TenantSchema>,
    /// `tenant_schemas = "tenant_*"`, or how discovery decided — every message that depends
    /// on a discovered tenancy says so.
    pub how: String,
    /// The tenant whose schema the scope was classified for.
    pub current: TenantSchema,
}

impl SchemaTenancy {
    /// The tenant `--org` names: by key, else by its schema's whole name.
    pub fn find(&self, lookup: &str) -> Option<&TenantSchema> {
        (self.tenants.iter().find(|t| t.key == lookup))
            .or_else(|| self.tenants.iter().find(|t| t.schema == lookup))
    }

    /// The same tenancy, classified for `schema` (one of its tenants).
    pub fn with_current(&self, tenant: &TenantSchema) -> SchemaTenancy {
        SchemaTenancy {
            current: tenant.clone(),
            ..self.clone()
        }
    }

    /// `plan`'s words: `schema-per-tenant: schema tenant_acme (tenant_schemas = "tenant_*")`.
    pub fn describe(&self) -> String {
        format!(
            "schema-per-tenant: schema {} of {} tenant schemas ({})",
            self.current.schema,
            self.tenants.len(),
            self.how
        )
    }
}
