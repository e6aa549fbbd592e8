//! Golden files: output the repository keeps (the man page, completions, `plan` on every
//! fixture) compared with what the code produces now, so a change shows up as a reviewed
//! diff. `UPDATE_GENERATED=1 cargo test` rewrites them instead of comparing. What goes into a
//! golden file, and how volatile parts are normalised, is the caller's business.

use std::path::Path;

/// Lines of unchanged context shown around each difference.
const CONTEXT: usize = 2;

/// `path` holds exactly `fresh`; with `UPDATE_GENERATED` set, it is made to.
#[track_caller]
pub fn assert_golden(path: &Path, fresh: &[u8]) {
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, fresh).unwrap();
        return;
    }
    let current = std::fs::read(path).unwrap_or_default();
    if current == fresh {
        return;
    }
    let diff = match (std::str::from_utf8(&current), std::str::from_utf8(fresh)) {
        (Ok(old), Ok(new)) => line_diff(old, new),
        _ => "(binary content)\n".to_string(),
    };
    panic!(
        "{} is stale (- in the file, + produced now):\n{diff}\
         run `UPDATE_GENERATED=1 cargo test --test {}`, review the diff and commit the result",
        path.display(),
        env!("CARGO_CRATE_NAME")
    );
}

/// The changed lines with a little context, numbered as in the old text.
fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let ops = edit_script(&old, &new);
    let mut out = String::new();
    let mut last_shown: Option<usize> = None;
    for (i, (tag, line, old_no)) in ops.iter().enumerate() {
        let near_change = ops[i.saturating_sub(CONTEXT)..(i + CONTEXT + 1).min(ops.len())]
            .iter()
            .any(|(t, _, _)| *t != ' ');
        if !near_change {
            continue;
        }
        if last_shown.is_none_or(|last| last + 1 != i) {
            out.push_str(&format!("@@ line {}\n", old_no + 1));
        }
        out.push_str(&format!("{tag} {line}\n"));
        last_shown = Some(i);
    }
    out
}

/// A shortest edit script by longest common subsequence, after the common head and tail are
/// set aside (a golden file usually changes in a few lines). Each entry: ' ', '-' or '+', the
/// line, and the old line number it sits at.
fn edit_script<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<(char, &'a str, usize)> {
    let head = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let tail = old[head..]
        .iter()
        .rev()
        .zip(new[head..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (a, b) = (&old[head..old.len() - tail], &new[head..new.len() - tail]);
    let mut ops: Vec<(char, &str, usize)> = (0..head).map(|i| (' ', old[i], i)).collect();
    if a.len() * b.len() > 4_000_000 {
        // Too big to align cheaply: everything in between as removed, then added.
        ops.extend(a.iter().enumerate().map(|(i, l)| ('-', *l, head + i)));
        ops.extend(b.iter().map(|l| ('+', *l, head + a.len())));
    } else {
        // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
        let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if i < a.len() && j < b.len() && a[i] == b[j] {
                ops.push((' ', a[i], head + i));
                (i, j) = (i + 1, j + 1);
            } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
                ops.push(('-', a[i], head + i));
                i += 1;
            } else {
                ops.push(('+', b[j], head + i));
                j += 1;
            }
        }
    }
    let tail_start = old.len() - tail;
    ops.extend((tail_start..old.len()).map(|i| (' ', old[i], i)));
    ops
}
