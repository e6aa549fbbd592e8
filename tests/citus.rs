//! Citus: one tenant's rows exported from a real cluster (a coordinator and two workers the
//! harness starts once for this binary), discovered from Citus's metadata without
//! configuration, read with router queries, and equal to the archive of the same fixture on a
//! single node. The fixture is the Citus tutorial's ad platform (`fixtures/citus/`).

mod support;

use support::citus_fixture::{company_config, on_citus, on_single_node};
use support::{Archive, Expect, Orgexport, TempDir, TestDb};

const MARKERS: &[&str] = &["MARKER-OTHER-ORG", "MARKER-SECRET", "MARKER-UNREFERENCED"];

#[test]
fn zero_config_plan_shows_the_tenants_worker_shards_and_citus_kinds() {
    let db = on_citus(true);
    let store = TempDir::new();
    let run = Orgexport::on(
        &db.coordinator,
        &store,
        &["plan", "--org", "acme", "--json"],
    )
    .run();
    let plan = run.json();
    let warnings = plan["warnings"].to_string();
    assert!(!warnings.contains("no foreign key"), "{warnings}");
    assert!(warnings.contains("Citus"), "{warnings}");
    let citus = &plan["citus"];
    let nodes = citus["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{citus}");
    let port = nodes[0]["port"].as_i64().unwrap() as u16;
    let worker = db
        .workers
        .iter()
        .find(|w| w.port == port)
        .unwrap_or_else(|| panic!("the org's node {port} is not a worker: {citus}"));
    let kind = |name: &str| {
        citus["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {citus}"))
            .clone()
    };
    assert!(
        kind("public.users")["kind"]
            .as_str()
            .unwrap()
            .starts_with("reference table")
    );
    assert!(
        kind("public.countries")["kind"]
            .as_str()
            .unwrap()
            .starts_with("reference table")
    );
    for (table, rows) in [
        ("companies", 1),
        ("campaigns", 3),
        ("ads", 6),
        ("clicks", 50),
    ] {
        let entry = kind(&format!("public.{table}"));
        assert!(
            entry["kind"]
                .as_str()
                .unwrap()
                .starts_with("distributed by"),
            "{entry}"
        );
        // The shard the plan names holds the org's rows, on the worker it names.
        let shard = entry["shard"].as_i64().unwrap();
        let column = if table == "companies" {
            "id"
        } else {
            "company_id"
        };
        assert_eq!(
            worker.scalar_i64(&format!(
                "SELECT count(*) FROM {table}_{shard} WHERE {column} = 1"
            )),
            rows,
            "{entry}"
        );
    }
    let text = Orgexport::on(&db.coordinator, &store, &["plan", "--org", "acme"]).run();
    assert!(
        text.stdout
            .contains(&format!("citus: the org's shards are on 127.0.0.1:{port}")),
        "{}",
        text.stdout
    );
}

#[test]
fn every_query_of_an_export_by_key_touches_one_shard() {
    let db = on_citus(true);
    // Citus fails any statement that would run on more than one shard (a multi-task query):
    // the export's section, count and sample queries must all be router queries.
    db.coordinator.execute(&format!(
        "ALTER DATABASE {} SET citus.multi_task_query_log_level = 'error'",
        db.coordinator.name
    ));
    let probe = db
        .coordinator
        .client()
        .batch_execute("SELECT count(*) FROM clicks");
    assert!(
        probe.is_err(),
        "the guard does not reject multi-shard queries"
    );
    let store = TempDir::new();
    let run = Orgexport::export(&db.coordinator, &store, "1").run();
    let archive = Archive::from_run(&run);
    archive.assert_well_formed();
    assert_eq!(archive.section("public.clicks").len(), 50);
    archive.assert_absent(MARKERS);
}

#[test]
fn archive_from_the_cluster_equals_the_single_node_archive() {
    let cluster = on_citus(true);
    let single = on_single_node(true);
    let store = TempDir::new();
    let from_cluster =
        Archive::from_run(&Orgexport::export(&cluster.coordinator, &store, "acme").run());
    // Without Citus's metadata company_id is configured, not discovered.
    let config = company_config();
    let run = Orgexport::export(&single, &store, "acme")
        .current_dir(config.path())
        .stderr_lacks("no foreign key")
        .run();
    let from_single = Archive::from_run(&run);
    from_cluster.assert_well_formed();
    from_cluster.assert_absent(MARKERS);
    assert_eq!(
        from_cluster.manifest["sections"],
        from_single.manifest["sections"]
    );
    assert_eq!(from_cluster.section_order, from_single.section_order);
    assert_eq!(from_cluster.sections, from_single.sections);
    for table in ["campaigns", "ads", "clicks"] {
        from_cluster.assert_section_equals(
            &cluster.coordinator,
            &format!("public.{table}"),
            &format!("SELECT * FROM {table} WHERE company_id = 1 ORDER BY id"),
        );
    }
}

/// Moves rows between the org's tables while exports run: each writer transaction deletes a
/// click and adds an ad (or deletes that ad and adds a click), so ads + clicks is always 56,
/// and gives campaign 1 a new owner in the reference table `users`, deleting the old one, so
/// an archive read at two points in time lacks the owner its campaign names.
fn concurrent_writer(db: &TestDb, stop: &std::sync::atomic::AtomicBool) -> u32 {
    let mut client = db.client();
    // A foreign key to a reference table: Citus wants one connection per node for this.
    client
        .batch_execute("SET citus.multi_shard_modify_mode TO 'sequential'")
        .unwrap();
    let mut round = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        round += 1;
        let (user, old) = (100 + round, if round == 1 { 1 } else { 99 + round });
        let moves = if round % 2 == 1 {
            format!(
                "DELETE FROM clicks WHERE company_id = 1 AND id = (SELECT min(id) FROM clicks WHERE company_id = 1);
                 INSERT INTO ads VALUES (1, {ad}, 1, 'moved {round}');",
                ad = 1000 + round
            )
        } else {
            format!(
                "DELETE FROM ads WHERE company_id = 1 AND id = {ad};
                 INSERT INTO clicks VALUES (1, {click}, 1, now(), 'DE');",
                ad = 999 + round,
                click = 1000 + round
            )
        };
        client
            .batch_execute(&format!(
                "BEGIN;
                 INSERT INTO users VALUES ({user}, 'owner{user}@acme.test', NULL);
                 UPDATE campaigns SET owner_id = {user} WHERE company_id = 1 AND id = 1;
                 {moves}
                 COMMIT;
                 DELETE FROM users WHERE id = {old} AND id NOT IN (SELECT owner_id FROM campaigns WHERE owner_id IS NOT NULL);"
            ))
            .unwrap_or_else(|e| panic!("writer round {round}: {e:?}"));
    }
    round
}

/// The archive agrees with itself: counts, the invariant, and every reference inside it.
fn assert_consistent(archive: &Archive, jobs: &str) {
    archive.assert_well_formed();
    let ads = archive.section("public.ads");
    let clicks = archive.section("public.clicks");
    assert_eq!(
        ads.len() + clicks.len(),
        56,
        "ads + clicks moved between snapshots ({jobs})"
    );
    let users: Vec<&serde_json::Value> = archive
        .section("public.users")
        .iter()
        .map(|u| &u["id"])
        .collect();
    for campaign in archive.section("public.campaigns") {
        let owner = &campaign["owner_id"];
        assert!(
            owner.is_null() || users.contains(&owner),
            "{jobs}: campaign {campaign} has no owner row; users {users:?}"
        );
    }
    let ad_ids: Vec<&serde_json::Value> = ads.iter().map(|a| &a["id"]).collect();
    for click in clicks {
        assert!(
            ad_ids.contains(&&click["ad_id"]),
            "{jobs}: click {click} has no ad"
        );
    }
}

#[test]
fn a_concurrent_writer_never_makes_an_archive_disagree_with_itself() {
    let db = on_citus(true);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let store = TempDir::new();
    std::thread::scope(|s| {
        let writer = s.spawn(|| concurrent_writer(&db.coordinator, &stop));
        let exports = std::panic::catch_unwind(|| {
            for _ in 0..8 {
                for how in [&["--jobs", "1"][..], &["--jobs", "4"], &["--direct"]] {
                    let run = Orgexport::export(&db.coordinator, &store, "1")
                        .args(how)
                        .run();
                    assert_consistent(&Archive::from_run(&run), &how.join(" "));
                }
            }
        });
        // Stopped before a failed check is reported: the scope waits for the writer.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let rounds = writer.join().unwrap();
        if let Err(panic) = exports {
            std::panic::resume_unwind(panic);
        }
        assert!(rounds > 10, "the writer ran only {rounds} rounds");
    });
}

#[test]
fn direct_reads_the_org_on_its_worker_and_writes_the_same_archive() {
    let db = on_citus(true);
    let store = TempDir::new();
    let plan = Orgexport::on(
        &db.coordinator,
        &store,
        &["plan", "--org", "acme", "--json"],
    )
    .run()
    .json();
    let node = &plan["citus"]["nodes"][0];
    let worker = format!("{}:{}", node["host"].as_str().unwrap(), node["port"]);
    let through = Archive::from_run(&Orgexport::export(&db.coordinator, &store, "acme").run());
    let run = Orgexport::export(&db.coordinator, &store, "acme")
        .args(["--direct", "-v"])
        .stderr_has(format!("reading org acme on worker {worker} (--direct)"))
        .run();
    let direct = Archive::from_run(&run);
    direct.assert_well_formed();
    direct.assert_absent(MARKERS);
    assert_eq!(direct.manifest["sections"], through.manifest["sections"]);
    assert_eq!(direct.sections, through.sections);

    // Without Citus there is no worker to read: a usage error, nothing exported.
    let single = on_single_node(true);
    let config = company_config();
    Orgexport::export(&single, &store, "acme")
        .current_dir(config.path())
        .arg("--direct")
        .code(2)
        .one_error_line()
        .stderr_has("no citus extension; leave out --direct")
        .run();
}
