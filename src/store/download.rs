//! An archive read from a download link (`https://…`, or `http://` on a private network):
//! the links `run` and `link` print — presigned S3, GCS and Azure GETs — or any plain URL,
//! streamed into the blocking reader the verifier and the restore read, as
//! [`super::Store::open_read`] does for a store's object. Memory stays bounded whatever the
//! archive's size. The URL is shown only redacted ([`crate::redact::redact_url`]): a
//! presigned link's signature is a bearer credential.

use std::io::Read;

use crate::error::{Failure, Kind, fail};
use crate::redact::redact_url;

/// Whether `source` is a download link rather than a store address or a path.
pub fn is_link(source: &str) -> bool {
    let lower = source.get(..8).unwrap_or(source).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Opens a download link for reading. A refusal (403 of an expired or tampered link, 404)
/// is exit 1 naming the status; an unreachable host is a store failure (exit 6).
pub async fn open_link(url: &str) -> anyhow::Result<impl Read + Send + use<>> {
    let shown = redact_url(url);
    let parsed = url::Url::parse(url)
        .map_err(|e| fail(Kind::Usage, format!("{shown} is not a valid URL: {e}")))?;
    let response = reqwest::Client::new()
        .get(parsed)
        .send()
        .await
        .map_err(|e| {
            // reqwest's own message repeats the URL: keep only what went wrong.
            let cause = e.without_url();
            anyhow::Error::new(cause).context(Failure::new(
                Kind::Store,
                format!("cannot download {shown}"),
            ))
        })?;
    let status = response.status();
    if !status.is_success() {
        let why = match status.as_u16() {
            403 => " (an expired or altered link? ask `orgexport link ID` for a fresh one)",
            404 => " (no such object)",
            _ => "",
        };
        return Err(fail(
            Kind::ExportFailed,
            format!("cannot download {shown}: the server answered {status}{why}"),
        ));
    }
    let chunks = futures_util::stream::unfold(response, |mut response| async move {
        match response.chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), response)),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e.without_url())), response)),
        }
    });
    Ok(tokio_util::io::SyncIoBridge::new(
        tokio_util::io::StreamReader::new(Box::pin(chunks)),
    ))
}
