//! `run --on-complete CMD`: the completion hook, run for real — shell scripts that write what
//! they were given (environment, stdin) into files the tests read back. What the hook is
//! told, once per org, for completed and failed exports; that nothing from the data becomes a
//! command; that no secret reaches it; that its failure or timeout is reported and audited
//! and changes nothing else; and that a bad hook is exit 2 before anything is exported.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{Expect, Orgexport, S3_BUCKET, S3_SECRET_KEY, S3Server, TempDir, TestDb};

fn two_orgs(acme_slug: &str) -> TestDb {
    let db = TestDb::new();
    db.execute(&format!(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE);
         CREATE TABLE notes (id int PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, body text);
         INSERT INTO orgs VALUES (1, '{}'), (2, 'globex');
         INSERT INTO notes VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'c');",
        acme_slug.replace('\'', "''")
    ));
    db
}

/// A hook script in `dir`: writes its environment to `env.<org key>`, its stdin to
/// `stdin.<org key>`, a line to its stdout, then exits with `$1` (default 0). Its arguments
/// are the only way to tell it anything beyond the outcome: it gets no other environment.
fn recording_hook(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("hook.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nenv > '{dir}/env.'\"$ORGEXPORT_ORG_KEY\"\ncat > '{dir}/stdin.'\"$ORGEXPORT_ORG_KEY\"\necho hook-stdout-line\nexit \"${{1:-0}}\"\n",
            dir = dir.path().display()
        ),
    )
    .unwrap();
    make_executable(&path);
    path
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn env_of(dir: &TempDir, org_key: &str) -> HashMap<String, String> {
    std::fs::read_to_string(dir.path().join(format!("env.{org_key}")))
        .unwrap_or_else(|e| panic!("the hook wrote no environment for org {org_key}: {e}"))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn stdin_of(dir: &TempDir, org_key: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(format!("stdin.{org_key}"))).unwrap(),
    )
    .unwrap()
}

fn audit(db: &TestDb, action: &str) -> Vec<Value> {
    db.json_rows(&format!(
        "SELECT details FROM orgexport.audit_log WHERE action = '{action}' ORDER BY id"
    ))
    .into_iter()
    .map(|row| row["details"].clone())
    .collect()
}

#[test]
fn the_hook_gets_each_orgs_outcome_in_its_environment_and_json_entry_on_stdin() {
    let db = two_orgs("acme");
    let store = TempDir::new();
    let dir = TempDir::new();
    let hook = recording_hook(&dir);
    let run = Orgexport::on(&db, &store, &["run", "--all-orgs", "--json"])
        .arg("--on-complete")
        .arg(hook.to_str().unwrap())
        .env("PGPASSWORD", "pg-password-marker")
        .env("AWS_SECRET_ACCESS_KEY", "aws-secret-marker")
        .env(
            "ORGEXPORT_TARGET_URL",
            "postgres://u:target-password-marker@h/db",
        )
        .stderr_has("hook-stdout-line")
        .stdout_lacks("hook-stdout-line")
        .run();
    // stdout is still the one JSON object: the hook's own stdout went to stderr.
    let out = run.json();
    let exports = out["exports"].as_array().unwrap();
    assert_eq!(exports.len(), 2);
    for entry in exports {
        let key = entry["org_key"].as_str().unwrap();
        assert_eq!(&stdin_of(&dir, key), entry, "stdin is the --json entry");
        let env = env_of(&dir, key);
        assert_eq!(
            env["ORGEXPORT_EXPORT_ID"],
            entry["export_id"].as_str().unwrap()
        );
        assert_eq!(env["ORGEXPORT_ORG"], entry["org"].as_str().unwrap());
        assert_eq!(env["ORGEXPORT_STATUS"], "completed");
        assert_eq!(env["ORGEXPORT_LINK"], entry["link"].as_str().unwrap());
        assert_eq!(
            env["ORGEXPORT_OBJECT_URL"],
            entry["object_url"].as_str().unwrap()
        );
        assert_eq!(env["ORGEXPORT_BYTES"], entry["bytes"].to_string());
        assert_eq!(env["ORGEXPORT_SHA256"], entry["sha256"].as_str().unwrap());
        assert_eq!(env["ORGEXPORT_ERROR"], "");
        // The history says the same.
        assert_eq!(
            db.scalar_text(&format!(
                "SELECT status || ' ' || sha256 FROM orgexport.exports WHERE id = '{}'",
                env["ORGEXPORT_EXPORT_ID"]
            ))
            .unwrap(),
            format!("completed {}", env["ORGEXPORT_SHA256"])
        );
        let all = std::fs::read_to_string(dir.path().join(format!("env.{key}"))).unwrap();
        for secret in [
            "pg-password-marker",
            "aws-secret-marker",
            "target-password-marker",
            &db.url,
        ] {
            assert!(!all.contains(secret), "{secret} reached the hook:\n{all}");
        }
        assert!(!env.contains_key("DATABASE_URL") && !env.contains_key("PGPASSWORD"));
        assert!(env.contains_key("PATH"), "PATH is passed on");
    }
    let completed = audit(&db, "hook.completed");
    assert_eq!(completed.len(), 2, "{completed:?}");
    assert_eq!(completed[0]["program"], hook.to_str().unwrap());
    assert_eq!(completed[0]["exit_code"], 0);
}

#[test]
fn an_org_name_never_becomes_part_of_a_command() {
    let marks = TempDir::new();
    let touched = |name: &str| marks.path().join(name);
    let name = format!(
        "acme; touch {} $(touch {}) `touch {}`",
        touched("semicolon").display(),
        touched("dollar").display(),
        touched("backtick").display()
    );
    let db = two_orgs(&name);
    let store = TempDir::new();
    let dir = TempDir::new();
    let hook = recording_hook(&dir);
    // Also through a shell the operator wrote, reading the name unquoted: words, not code.
    let shell_hook = format!(
        "sh -c 'printf \"%s|\" $ORGEXPORT_ORG >> {}/words' --",
        dir.path().display()
    );
    for command in [hook.to_str().unwrap().to_string(), shell_hook] {
        Orgexport::on(
            &db,
            &store,
            &["run", "--org", "1", "--on-complete", &command],
        )
        .run();
    }
    assert_eq!(env_of(&dir, "1")["ORGEXPORT_ORG"], "1", "the org as typed");
    Orgexport::on(
        &db,
        &store,
        &["run", "--all-orgs", "--on-complete", hook.to_str().unwrap()],
    )
    .run();
    assert_eq!(
        env_of(&dir, "1")["ORGEXPORT_ORG"],
        name,
        "the org's name, byte for byte"
    );
    for mark in ["semicolon", "dollar", "backtick"] {
        assert!(
            !touched(mark).exists(),
            "the org's name ran `touch` ({mark})"
        );
    }
    let words = std::fs::read_to_string(dir.path().join("words")).unwrap();
    assert_eq!(words, "1|", "split into words, never run");
}

#[test]
fn a_failed_export_runs_the_hook_with_status_failed_and_its_error() {
    let db = two_orgs("acme");
    let store = TempDir::new();
    let dir = TempDir::new();
    let hook = recording_hook(&dir);
    let mut holder = db.client();
    holder
        .batch_execute(
            "SELECT pg_advisory_lock(('x' || substr(encode(sha256('orgexport:1'), 'hex'), 1, 16))::bit(64)::bigint)",
        )
        .unwrap();
    // The hook fails too: the exit code is still the export's own.
    let command = format!("{} 7", hook.display());
    let run = Orgexport::export(&db, &store, "acme")
        .args(["--on-complete", &command])
        .code(4)
        .stderr_has("another export of org acme is in progress")
        .stderr_has(
            "exited with status 7; the export itself is failed and the exit code does not change",
        )
        .run();
    let env = env_of(&dir, "1");
    assert_eq!(env["ORGEXPORT_STATUS"], "failed");
    assert!(
        env["ORGEXPORT_ERROR"].contains("another export of org acme is in progress"),
        "{env:?}"
    );
    assert_eq!(env["ORGEXPORT_LINK"], "");
    assert_eq!(
        db.scalar_text(&format!(
            "SELECT status FROM orgexport.exports WHERE id = '{}'",
            env["ORGEXPORT_EXPORT_ID"]
        ))
        .as_deref(),
        Some("failed"),
        "the hook is told the recorded export"
    );
    let stdin = stdin_of(&dir, "1");
    assert_eq!(stdin["status"], "failed");
    assert_eq!(stdin["error"]["code"], "lock_busy");
    assert!(run.stdout.is_empty());
    // An org that does not exist has no export, and no hook runs for it.
    std::fs::remove_file(dir.path().join("env.1")).unwrap();
    Orgexport::export(&db, &store, "initech")
        .args(["--on-complete", hook.to_str().unwrap()])
        .code(3)
        .run();
    assert!(!dir.path().join("env.1").exists() && !dir.path().join("env.").exists());
}

#[test]
fn a_failing_hook_is_reported_and_audited_and_changes_no_status_or_exit_code() {
    let db = two_orgs("acme");
    let store = TempDir::new();
    let dir = TempDir::new();
    let hook = recording_hook(&dir);
    let command = format!("{} 3", hook.display());
    let run = Orgexport::export(&db, &store, "acme")
        .args(["--on-complete", &command, "-q"])
        .stderr_has("exited with status 3; the export itself is completed and the exit code does not change")
        .run();
    assert!(
        run.last_stdout_line().starts_with("file://"),
        "the link is still printed"
    );
    assert_eq!(
        db.scalar_text("SELECT status FROM orgexport.exports")
            .as_deref(),
        Some("completed")
    );
    let failed = audit(&db, "hook.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["exit_code"], 3);
    assert_eq!(failed[0]["export_status"], "completed");
    assert_eq!(
        failed[0]["program"],
        hook.to_str().unwrap(),
        "the program, not its arguments"
    );
}

/// Whether a process is alive (a zombie is not: nobody may reap it in a container).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

/// A hook that starts a long `sleep` (its pid written to `sleeper.<org key>` once started)
/// and waits for it.
fn slow_hook(dir: &TempDir) -> PathBuf {
    let hook = dir.path().join("slow.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nsleep 300 &\necho $! > '{dir}/sleeper.tmp'\nmv '{dir}/sleeper.tmp' '{dir}/sleeper.'\"$ORGEXPORT_ORG_KEY\"\nwait\n",
            dir = dir.path().display()
        ),
    )
    .unwrap();
    make_executable(&hook);
    hook
}

/// Waits until the process whose pid is in `file` is gone.
fn wait_gone(file: &Path) {
    let pid = std::fs::read_to_string(file).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive(pid.trim()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the hook's child outlived it"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_during_the_hook_kills_it_and_runs_no_further_hooks() {
    let db = two_orgs("acme");
    let store = TempDir::new();
    let dir = TempDir::new();
    let hook = slow_hook(&dir);
    let child = Orgexport::on(
        &db,
        &store,
        &["run", "--all-orgs", "--on-complete", hook.to_str().unwrap()],
    )
    .code(130)
    .stderr_has("interrupted: its process group was killed")
    .spawn();
    let sleeper = dir.path().join("sleeper.1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !sleeper.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the hook never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.signal("INT");
    child.wait();
    wait_gone(&sleeper);
    assert!(!dir.path().join("sleeper.2").exists(), "no hook for globex");
    // acme's export completed before Ctrl-C and stays so; globex was never started.
    assert_eq!(
        db.scalar_text("SELECT string_agg(org_key || ' ' || status, ',') FROM orgexport.exports")
            .as_deref(),
        Some("1 completed")
    );
    assert_eq!(audit(&db, "hook.failed").len(), 1);
}

#[test]
fn a_hook_past_its_timeout_is_killed_with_everything_it_started() {
    let db = two_orgs("acme");
    let store = TempDir::new();
    let dir = TempDir::new();
    let hook = slow_hook(&dir);
    Orgexport::export(&db, &store, "acme")
        .args([
            "--on-complete",
            hook.to_str().unwrap(),
            "--on-complete-timeout",
            "1s",
        ])
        .stderr_has("did not exit within 1s: its process group was killed")
        .run();
    wait_gone(&dir.path().join("sleeper.1"));
    let failed = audit(&db, "hook.failed");
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("did not exit within 1s")
    );
    assert_eq!(
        db.scalar_text("SELECT status FROM orgexport.exports")
            .as_deref(),
        Some("completed")
    );
}

#[test]
fn a_bad_hook_is_exit_2_before_anything_is_exported() {
    let db = two_orgs("acme");
    let store = TempDir::new();
    for (args, says) in [
        (
            vec!["--on-complete", "notify 'unbalanced"],
            "unbalanced quote",
        ),
        (vec!["--on-complete", "  "], "is empty"),
        (
            vec!["--on-complete", "/nonexistent/notify --x"],
            "\"/nonexistent/notify\" is not found",
        ),
        (
            vec!["--on-complete", "no-such-program-on-path"],
            "is not found or not executable",
        ),
        (
            vec!["--on-complete", "true", "--on-complete-timeout", "0s"],
            "timeout of 0",
        ),
        (
            vec!["--on-complete-timeout", "5s"],
            "--on-complete-timeout without a command",
        ),
    ] {
        Orgexport::export(&db, &store, "acme")
            .args(&args)
            .code(2)
            .stderr_has(says)
            .one_error_line()
            .run();
    }
    std::fs::write(
        store.path().join("orgexport.toml"),
        "link_ttl = \"1h\"\non_complete = \"x 'y\"\n",
    )
    .unwrap();
    Orgexport::export(&db, &store, "acme")
        .code(2)
        .stderr_has("orgexport.toml line 2: on_complete = \"x 'y\" has an unbalanced quote")
        .one_error_line()
        .run();
    assert_eq!(
        store.files(),
        vec!["orgexport.toml".to_string()],
        "nothing was exported"
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM pg_namespace WHERE nspname = 'orgexport'"),
        0,
        "no history was written"
    );
}

#[test]
fn on_complete_in_the_config_runs_and_the_flag_wins() {
    let db = two_orgs("acme");
    let store = TempDir::new();
    let dir = TempDir::new();
    let hook = recording_hook(&dir);
    std::fs::write(
        store.path().join("orgexport.toml"),
        format!(
            "on_complete = \"'{}' 0\"\non_complete_timeout = \"30s\"\n",
            hook.display()
        ),
    )
    .unwrap();
    Orgexport::export(&db, &store, "acme").run();
    assert_eq!(env_of(&dir, "1")["ORGEXPORT_STATUS"], "completed");
    Orgexport::export(&db, &store, "acme")
        .args(["--on-complete", &format!("{} 5", hook.display())])
        .stderr_has("exited with status 5")
        .run();
    assert_eq!(audit(&db, "hook.completed").len(), 1);
    assert_eq!(audit(&db, "hook.failed").len(), 1);
}

#[test]
fn on_s3_the_hook_gets_the_signed_link_and_never_the_stores_credentials() {
    let db = two_orgs("acme");
    let s3 = S3Server::start();
    let dir = TempDir::new();
    let hook = recording_hook(&dir);
    let out = Orgexport::new()
        .args([
            "run",
            "--org",
            "acme",
            "--json",
            "--on-complete",
            hook.to_str().unwrap(),
        ])
        .database(&db)
        .store(format!("s3://{S3_BUCKET}/nightly"))
        .envs(s3.env())
        .run()
        .json();
    let env = env_of(&dir, "1");
    let link = out["exports"][0]["link"].as_str().unwrap();
    assert_eq!(env["ORGEXPORT_LINK"], link);
    assert!(
        link.contains("X-Amz-Signature="),
        "a presigned link: {link}"
    );
    let id = env["ORGEXPORT_EXPORT_ID"].clone();
    assert_eq!(
        env["ORGEXPORT_OBJECT_URL"],
        format!("s3://{S3_BUCKET}/nightly/acme-1/{id}.json.gz")
    );
    let all = std::fs::read_to_string(dir.path().join("env.1")).unwrap();
    assert!(
        !all.contains(S3_SECRET_KEY),
        "the store's secret reached the hook"
    );
    assert!(
        !all.contains("AWS_"),
        "no AWS_* variable reaches the hook:\n{all}"
    );
}
