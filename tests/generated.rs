//! The generated files in the repository (`completions/`, `man/orgexport.1`) match what the
//! current command-line definitions generate. `UPDATE_GENERATED=1 cargo test` rewrites them.

mod support;

use std::path::Path;

use orgexport::commands::completions::{GENERATED_COMPLETIONS, completion, man_page};
use support::assert_golden;

#[test]
fn completion_scripts_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (shell, name) in GENERATED_COMPLETIONS {
        assert_golden(&root.join("completions").join(name), &completion(*shell));
    }
}

#[test]
fn man_page_is_fresh_and_documents_exit_codes_and_environment() {
    let page = man_page();
    let text = String::from_utf8_lossy(&page);
    assert!(text.contains("EXIT STATUS") && text.contains("130"));
    assert!(text.contains("DATABASE_URL") && text.contains("PGPASSWORD"));
    assert_golden(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("man/orgexport.1"),
        &page,
    );
}

#[test]
fn man_page_lists_environment_files_examples_config_keys_and_optional_wait() {
    let text = String::from_utf8(man_page()).unwrap();
    for section in [
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXAMPLES",
        ".SH CONFIGURATION",
    ] {
        assert!(text.contains(section), "{section} missing");
    }
    for var in [
        "PGHOST",
        "PGSERVICEFILE",
        "PGPASSFILE",
        "ORGEXPORT_STORE",
        "ORGEXPORT_TARGET_URL",
        "AWS_PROFILE",
        "GOOGLE_SERVICE_ACCOUNT",
        "AZURE_STORAGE_CONNECTION_STRING",
    ] {
        assert!(text.contains(&format!("\\fB{var}\\fR")), "{var} missing");
    }
    assert!(text.contains("\\fB\\-\\-wait\\fR[=\\fIDURATION\\fR]"));
    // The config keys are the README's example file's, in its order.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = readme
        .split("## Configuration")
        .nth(1)
        .and_then(|s| s.split("```toml\n").nth(1))
        .and_then(|s| s.split("```").next())
        .unwrap();
    let readme_keys: Vec<&str> = block
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
        .collect();
    let keys: Vec<&str> = orgexport::config::CONFIG_KEYS
        .iter()
        .map(|(k, _)| *k)
        .collect();
    let mut sorted_readme = readme_keys.clone();
    sorted_readme.sort();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, sorted_readme);
    for key in keys {
        assert!(text.contains(&format!("\\fB{}\\fR", key)), "{key}");
    }
}

#[test]
fn org_keys_and_export_ids_complete_nothing_rather_than_file_names() {
    let bash = String::from_utf8(completion(clap_complete::Shell::Bash)).unwrap();
    let mut lines = bash.lines();
    let mut seen = 0;
    while let Some(line) = lines.next() {
        if line.trim() == "--org)" {
            seen += 1;
            let next = lines.next().unwrap();
            assert!(
                !next.contains("compgen -f"),
                "--org completes files: {next}"
            );
        }
    }
    assert!(seen >= 4, "--org appears in run, plan, list and prune");
}

#[test]
fn the_readme_exit_code_table_is_the_tools_own() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("## Exit codes and faults")
        .nth(1)
        .expect("README has an exit code section");
    let rows: Vec<(u8, String)> = section
        .lines()
        .skip_while(|l| !l.starts_with("| code"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].parse().unwrap(), cells[2].to_string())
        })
        .collect();
    let table = orgexport::error::exit_codes();
    assert_eq!(
        rows.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        table.iter().map(|(c, _)| *c).collect::<Vec<_>>()
    );
    // Same meaning: the README's text starts like the table's (up to its first parenthesis).
    for ((code, readme_meaning), (_, meaning)) in rows.iter().zip(&table) {
        let head = meaning.split(" (").next().unwrap();
        assert!(
            readme_meaning.starts_with(head),
            "exit code {code}: README says {readme_meaning:?}, the tool {meaning:?}"
        );
    }
}
