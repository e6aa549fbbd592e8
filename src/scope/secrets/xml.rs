//! Cutting secrets out of xml text (DESIGN §3: "xml values are treated like json"): elements
//! whose name is a secret (`<password>…</password>`, `<smtp:Password/>`) and attributes whose
//! name is a secret (`token="…"`) are removed; everything else is kept byte for byte. A small
//! scanner, not a parser: input it does not understand is left to the caller unchanged.

use super::is_secret_name;

/// The xml text with secret elements and attributes removed, or `None` when nothing was.
pub fn redact_xml(text: &str, removed: &mut Vec<String>) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let end = rest.find('>')?;
        let tag = &rest[..=end];
        let name = tag_name(tag);
        let is_start = !tag.starts_with("</") && !tag.starts_with("<?") && !tag.starts_with("<!");
        if is_start && !name.is_empty() && is_secret_name(local(name)) {
            note(removed, local(name));
            changed = true;
            rest = if tag.ends_with("/>") {
                &rest[end + 1..]
            } else {
                let close = format!("</{name}");
                let after = rest.find(&close)?;
                let tail = &rest[after..];
                &tail[tail.find('>')? + 1..]
            };
            continue;
        }
        if is_start {
            let (kept, cut) = without_secret_attributes(tag, removed);
            changed |= cut;
            out.push_str(&kept);
        } else {
            out.push_str(tag);
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// `<a:b x="1">` → `a:b`.
fn tag_name(tag: &str) -> &str {
    let inner = tag.trim_start_matches('<').trim_start_matches('/');
    let end = inner
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(inner.len());
    &inner[..end]
}

/// The name without its namespace prefix.
fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn note(removed: &mut Vec<String>, name: &str) {
    if !removed.iter().any(|r| r == name) {
        removed.push(name.to_string());
    }
}

/// A start tag without its secret attributes; whether any was cut.
fn without_secret_attributes(tag: &str, removed: &mut Vec<String>) -> (String, bool) {
    let mut out = String::with_capacity(tag.len());
    let mut rest = tag;
    let mut cut = false;
    // Each `name="value"` (or 'value') with the whitespace before it.
    while let Some(eq) = rest.find('=') {
        let quote_at = eq + 1 + rest[eq + 1..].len() - rest[eq + 1..].trim_start().len();
        let Some(quote) = rest[quote_at..]
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
        else {
            break;
        };
        let Some(close) = rest[quote_at + 1..].find(quote) else {
            break;
        };
        let attr_end = quote_at + 1 + close + 1;
        let name_start = rest[..eq]
            .trim_end()
            .rfind(char::is_whitespace)
            .map_or(0, |i| i);
        let name = rest[name_start..eq].trim();
        if is_secret_name(local(name)) {
            out.push_str(&rest[..name_start]);
            note(removed, local(name));
            cut = true;
        } else {
            out.push_str(&rest[..attr_end]);
        }
        rest = &rest[attr_end..];
    }
    out.push_str(rest);
    (out, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_elements_and_attributes_are_cut_the_rest_is_kept() {
        let mut removed = Vec::new();
        let out = redact_xml(
            r#"<cfg host="h" token="t1"><user>u</user><Password>p</Password><smtp:pass/><n>1</n></cfg>"#,
            &mut removed,
        )
        .unwrap();
        assert_eq!(out, r#"<cfg host="h"><user>u</user><n>1</n></cfg>"#);
        assert_eq!(removed, ["token", "Password", "pass"]);
        assert!(redact_xml("<a><b>keyboard</b></a>", &mut removed).is_none());
    }
}
