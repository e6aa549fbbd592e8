//! Schema-based sharding on Citus: the apartment fixture (`fixtures/tenant_schemas/`) with its
//! tenant schemas distributed as units — by `citus_schema_distribute` after the fact, or by
//! `citus.enable_schema_based_sharding = on` when they are created — and its public tables as
//! reference tables. The tenant schemas are found in `pg_dist_schema`; the archive equals the
//! same data's archive on a single node; `plan` shows the worker holding the schema's
//! colocation group. The cluster (a coordinator and two workers) starts once per binary.

mod support;

use support::tenant_schemas::{APARTMENT_DATA, APARTMENT_SHARED, apartment_tenants};

use support::{Archive, CitusCluster, CitusDb, Expect, Orgexport, TempDir, TestDb};

/// The shared tables replicated to every node: a distributed schema's tables may refer to
/// reference tables only.
const REFERENCE: &str = "SELECT create_reference_table('public.countries');
     SELECT create_reference_table('public.currencies');
     SELECT create_reference_table('public.accounts');";

const MARKERS: &[&str] = &["MARKER-OTHER-ORG", "MARKER-SECRET", "MARKER-UNREFERENCED"];

/// Tenant schemas distributed after the fact (`citus_schema_distribute`).
fn distributed_after() -> CitusDb {
    let db = CitusCluster::get().database();
    db.coordinator.execute(APARTMENT_SHARED);
    db.coordinator.execute(&apartment_tenants());
    db.coordinator.execute(REFERENCE);
    db.coordinator.execute(
        "SELECT citus_schema_distribute('acme');
         SELECT citus_schema_distribute('globex');
         SELECT citus_schema_distribute('initech');",
    );
    db.coordinator.execute(APARTMENT_DATA);
    db
}

/// Tenant schemas distributed as they are created (`citus.enable_schema_based_sharding`).
fn distributed_on_create() -> CitusDb {
    let db = CitusCluster::get().database();
    db.coordinator.execute(APARTMENT_SHARED);
    db.coordinator.execute(REFERENCE);
    db.coordinator.execute(&format!(
        "SET citus.enable_schema_based_sharding = on;\n{}",
        apartment_tenants()
    ));
    db.coordinator.execute(APARTMENT_DATA);
    db
}

fn single_node() -> TestDb {
    let db = CitusCluster::get().plain_database();
    for sql in [APARTMENT_SHARED, &apartment_tenants(), APARTMENT_DATA] {
        db.execute(sql);
    }
    db
}

#[test]
fn a_distributed_tenant_schemas_archive_equals_the_single_node_archive() {
    let single = single_node();
    let store = TempDir::new();
    let expected = Archive::from_run(&Orgexport::export(&single, &store, "globex").run());
    for (how, cluster) in [
        ("citus_schema_distribute", distributed_after()),
        ("enable_schema_based_sharding", distributed_on_create()),
    ] {
        assert_eq!(
            cluster
                .coordinator
                .scalar_i64("SELECT count(*) FROM pg_dist_schema"),
            3,
            "{how}: the tenant schemas are not distributed"
        );
        assert_eq!(
            cluster.coordinator.scalar_i64(
                "SELECT count(*) FROM pg_dist_partition p JOIN pg_dist_schema s \
                 ON s.colocationid = p.colocationid WHERE p.partmethod = 'n'"
            ),
            9,
            "{how}: the tenant schemas' tables are not single-shard tables"
        );
        let run = Orgexport::export(&cluster.coordinator, &store, "globex").run();
        let archive = Archive::from_run(&run);
        archive.assert_well_formed();
        for marker in ["acme.test", "MARKER-SECRET", "MARKER-UNREFERENCED"] {
            assert!(!archive.text.contains(marker), "{how}: {marker} leaked");
        }
        assert_eq!(
            archive.manifest["sections"], expected.manifest["sections"],
            "{how}"
        );
        assert_eq!(archive.section_order, expected.section_order, "{how}");
        assert_eq!(archive.sections, expected.sections, "{how}");
        // On the worker holding the schema, without the coordinator in the data path.
        let direct = Archive::from_run(
            &Orgexport::export(&cluster.coordinator, &store, "globex")
                .arg("--direct")
                .run(),
        );
        assert_eq!(direct.sections, expected.sections, "{how} --direct");
    }
    // acme's own archive carries none of the other tenants' markers.
    let acme = Archive::from_run(&Orgexport::export(&single, &store, "acme").run());
    acme.assert_absent(MARKERS);
}

#[test]
fn plan_shows_the_worker_holding_the_tenant_schemas_colocation_group() {
    let db = distributed_after();
    let store = TempDir::new();
    let plan = Orgexport::on(
        &db.coordinator,
        &store,
        &["plan", "--org", "acme", "--json"],
    )
    .run()
    .json();
    assert_eq!(plan["tenancy"]["kind"], "schema");
    assert!(
        plan["tenancy"]["decided_by"]
            .as_str()
            .unwrap()
            .contains("pg_dist_schema"),
        "{}",
        plan["tenancy"]
    );
    let citus = &plan["citus"];
    let nodes = citus["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{citus}");
    let port = nodes[0]["port"].as_i64().unwrap();
    // The node Citus's own view says holds acme's colocation group.
    let holder = db.coordinator.scalar_i64(
        "SELECT DISTINCT nodeport::int8 FROM citus_shards s \
         JOIN pg_dist_schema d ON d.colocationid = s.colocation_id \
         WHERE d.schemaid = 'acme'::regnamespace",
    );
    assert_eq!(port, holder, "{citus}");
    for table in citus["tables"].as_array().unwrap() {
        let name = table["name"].as_str().unwrap();
        let kind = table["kind"].as_str().unwrap();
        if name.starts_with("acme.") {
            assert!(kind.starts_with("single shard"), "{table}");
            assert_eq!(table["nodes"][0]["port"].as_i64(), Some(port), "{table}");
        } else {
            assert!(kind.starts_with("reference table"), "{table}");
        }
    }
    Orgexport::on(&db.coordinator, &store, &["plan", "--org", "acme"])
        .stdout_has(format!("citus: the org's shards are on 127.0.0.1:{port}"))
        .stdout_has("tenancy: schema-per-tenant: schema acme of 3 tenant schemas")
        .run();
    // Every query of the export runs on one node: Citus fails multi-shard statements here.
    db.coordinator.execute(&format!(
        "ALTER DATABASE {} SET citus.multi_task_query_log_level = 'error'",
        db.coordinator.name
    ));
    let archive = Archive::from_run(&Orgexport::export(&db.coordinator, &store, "acme").run());
    archive.assert_absent(MARKERS);
    assert_eq!(archive.section("acme.tasks").len(), 3);
}
