//! The apartment fixture of `fixtures/tenant_schemas/`, shared by the plain and the Citus
//! schema-per-tenant tests: the shared tables, the three tenant schemas' DDL (one template,
//! as the same migrations create every tenant's schema) and the rows. Loading them is the
//! tests' business (on Citus, reference tables come between).

pub const APARTMENT_SHARED: &str = include_str!("../fixtures/tenant_schemas/apartment.sql");
pub const APARTMENT_DATA: &str = include_str!("../fixtures/tenant_schemas/apartment_data.sql");
const APARTMENT_TENANT: &str = include_str!("../fixtures/tenant_schemas/apartment_tenant.sql");

/// The tenant schemas of the apartment fixture.
pub const APARTMENT_TENANTS: &[&str] = &["acme", "globex", "initech"];

/// The DDL of every tenant schema, as top-level statements.
pub fn apartment_tenants() -> String {
    APARTMENT_TENANTS
        .iter()
        .map(|t| APARTMENT_TENANT.replace("{{tenant}}", t))
        .collect()
}
