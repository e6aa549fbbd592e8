//! The object-key layout (DESIGN §5), the one place keys are named:
//! `<prefix>/<org dir>/<export_id>.json.gz` and `<export_id>.manifest.json` beside it.
//!
//! `<org dir>` comes from the org's **canonical key** (the root row's key), never from what the
//! operator typed, so one org always lands in one folder: `<slug>-<key>`, where `<slug>` is
//! lowercase ASCII letters, digits and `-` from the org's slug (or name), at most 40
//! characters (`org` when nothing is left), and `<key>` is the key with every byte other than
//! `a-z0-9` written as `_xx` (hex), so it never holds a `-`: the last `-` splits the name, and
//! two orgs never share a folder. A uuid key is kept as is (every key of a uuid root is one,
//! so the split is still unique). No name can produce a path or URL problem.
//! `link`, `verify` and `prune` use the key a history row recorded, never re-encode it.
//! A local store's objects are addressed by `file://` URLs; [`file_url_to_path`] reads one.

use std::path::PathBuf;

use object_store::path::Path;

use crate::archive_format::Format;
use sha2::{Digest, Sha256};

/// The longest slug part.
const SLUG_MAX: usize = 40;
/// Key parts longer than this are cut and completed by a hash (file-name limits).
const KEY_MAX: usize = 100;

/// The org's folder name.
pub fn org_dir(label: Option<&str>, key: &str, key_is_uuid: bool) -> String {
    let mut slug = String::new();
    for c in label.unwrap_or_default().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= SLUG_MAX {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "org" } else { slug };
    format!("{slug}-{}", key_part(key, key_is_uuid))
}

fn key_part(key: &str, key_is_uuid: bool) -> String {
    if key_is_uuid {
        return key.to_ascii_lowercase();
    }
    let mut out = String::new();
    for b in key.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    if out.len() > KEY_MAX {
        let hash = hex::encode(&Sha256::digest(key.as_bytes())[..12]);
        out.truncate(60);
        out.push_str("_h");
        out.push_str(&hash);
    }
    out
}

/// `<prefix>/<org dir>/<export_id>.json.gz` (or the extension of another [`Format`]).
pub fn archive_key(prefix: &Path, org_dir: &str, export_id: &str, format: Format) -> Path {
    prefix
        .clone()
        .join(org_dir)
        .join(format!("{export_id}{}", format.extension()))
}

/// An encrypted archive's key: `<id>.json.gz` → `<id>.json.gz.age`.
pub fn encrypted(archive: &Path) -> Path {
    Path::parse(format!(
        "{}{}",
        archive.as_ref(),
        crate::archive_format::ENCRYPTED_SUFFIX
    ))
    .expect("a key with a suffix is a key")
}

/// The sidecar beside an archive key: `<id>.json.gz[.age]` (any format's extension) →
/// `<id>.manifest.json`.
pub fn sidecar_of(archive: &Path) -> Path {
    let text = archive.as_ref();
    let text = text
        .strip_suffix(crate::archive_format::ENCRYPTED_SUFFIX)
        .unwrap_or(text);
    let stem = match archive.filename().and_then(Format::of_file_name) {
        Some((format, _)) => text.strip_suffix(format.extension()).unwrap_or(text),
        None => text,
    };
    // The key was parsed, not built: keep its encoding as is.
    Path::parse(format!("{stem}.manifest.json"))
        .unwrap_or_else(|_| Path::from(format!("{text}.manifest.json")))
}

/// Whether an archive key names export `export_id`'s archive (its last part), in any format.
pub fn names_export(archive: &Path, export_id: &str) -> bool {
    archive
        .filename()
        .and_then(Format::of_file_name)
        .is_some_and(|(_, stem)| stem == export_id)
}

/// Whether `folder` (as the key holds it) is the org folder of org key `key`: `<slug>-<key
/// part>` as [`org_dir`] makes it for that key (a uuid key either way, since whether the root
/// is uuid-keyed is not recorded), or the earlier layout's folder, the org's lookup as typed.
pub fn is_org_dir(folder: &str, key: &str, lookup: &str) -> bool {
    if folder == Path::from_iter([lookup]).as_ref() {
        return true;
    }
    let uuid = uuid::Uuid::parse_str(key).is_ok();
    let mut parts = vec![key_part(key, false)];
    if uuid {
        parts.push(key_part(key, true));
    }
    parts.iter().any(|part| {
        folder.strip_suffix(part.as_str()).is_some_and(|slug| {
            slug.strip_suffix('-').is_some_and(|slug| {
                !slug.is_empty()
                    && slug
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
        })
    })
}

/// The local path a `file://` URL names; `None` for another scheme, or a URL that names no
/// local absolute path (`file://host/…`).
pub fn file_url_to_path(url: &str) -> Option<PathBuf> {
    url::Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_dirs_come_from_the_canonical_key_and_never_collide() {
        assert_eq!(org_dir(Some("acme"), "1", false), "acme-1");
        assert_eq!(
            org_dir(Some("Acme Corporation"), "1", false),
            "acme-corporation-1"
        );
        assert_eq!(org_dir(Some("2"), "7", false), "2-7");
        assert_eq!(org_dir(None, "2", false), "org-2");
        assert_eq!(org_dir(Some(""), "2", false), "org-2");
        assert_eq!(org_dir(Some("Umbrella 株式会社"), "3", false), "umbrella-3");
        assert_eq!(org_dir(Some("a/b%#"), "4", false), "a-b-4");
        assert_eq!(
            org_dir(Some(&"x".repeat(300)), "5", false),
            format!("{}-5", "x".repeat(40))
        );
        assert_eq!(org_dir(Some("x"), "a-b", false), "x-a_2db");
        assert_eq!(org_dir(Some("x-a"), "b", false), "x-a-b");
        assert_ne!(
            org_dir(Some("x"), "a-b", false),
            org_dir(Some("x-a"), "b", false)
        );
        assert_eq!(org_dir(Some("x"), "Ab", false), "x-_41b");
        let uuid = "0192f6c4-5b1e-7c3a-9d2f-4e8a1b2c3d4e";
        assert_eq!(org_dir(Some("acme"), uuid, true), format!("acme-{uuid}"));
        let long = org_dir(Some("x"), &"k".repeat(300), false);
        assert!(long.len() < 120, "{long}");
        assert_ne!(long, org_dir(Some("x"), &"k".repeat(301), false));
    }

    #[test]
    fn keys_and_sidecars() {
        let key = archive_key(&Path::from("exports/prod"), "acme-1", "abc", Format::Json);
        assert_eq!(key.as_ref(), "exports/prod/acme-1/abc.json.gz");
        assert_eq!(
            sidecar_of(&key).as_ref(),
            "exports/prod/acme-1/abc.manifest.json"
        );
        assert!(names_export(&key, "abc"));
        let sealed = encrypted(&key);
        assert_eq!(sealed.as_ref(), "exports/prod/acme-1/abc.json.gz.age");
        assert_eq!(
            sidecar_of(&sealed).as_ref(),
            "exports/prod/acme-1/abc.manifest.json"
        );
        assert!(names_export(&sealed, "abc"));
        assert!(is_org_dir("acme-1", "1", "acme"));
        assert!(is_org_dir("acme-corporation-1", "1", "Acme Corporation"));
        assert!(is_org_dir("Acme Corporation", "1", "Acme Corporation"));
        assert!(is_org_dir("x-a_2db", "a-b", "x"));
        assert!(!is_org_dir("acme-2", "1", "acme"));
        assert!(!is_org_dir("acme-11", "1", "acme"));
        assert!(!is_org_dir("-1", "1", "acme"));
        assert!(!is_org_dir("payroll", "1", "acme"));
        let uuid = "0192f6c4-5b1e-7c3a-9d2f-4e8a1b2c3d4e";
        assert!(is_org_dir(&org_dir(Some("a"), uuid, true), uuid, "a"));
        assert!(is_org_dir(&org_dir(Some("a"), uuid, false), uuid, "a"));
        assert!(!names_export(&key, "abd"));
    }

    #[test]
    fn file_urls_name_local_paths_only() {
        assert_eq!(
            file_url_to_path("file:///srv/exports/acme-1/x.json.gz"),
            Some(PathBuf::from("/srv/exports/acme-1/x.json.gz"))
        );
        assert_eq!(
            file_url_to_path("file:///srv/with%20space"),
            Some(PathBuf::from("/srv/with space"))
        );
        assert_eq!(file_url_to_path("s3://bucket/key"), None);
        assert_eq!(file_url_to_path("file://host/srv/x"), None);
        assert_eq!(file_url_to_path("/srv/plain/path"), None);
        assert_eq!(file_url_to_path("not a url"), None);
    }
}
