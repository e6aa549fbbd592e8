//! What an object-store failure means for the operator: [`StoreErrorReason`], decided by the
//! error's type — `object_store`'s variants (it maps HTTP 404/403/401 to `NotFound`,
//! `PermissionDenied`, `Unauthenticated`), the transport's `HttpError` kind, the HTTP client's
//! own error, a local `io::Error` kind — and the one-line `Kind::Store` failures built from it.
//! What the store was doing when it failed is the caller's to say; which requests are worth
//! explaining (preflight, uploads) is too.

use std::error::Error as StdError;
use std::fmt;

use object_store::client::{HttpError, HttpErrorKind};

use crate::error::{Kind, fail};

/// What a store failure means, with its fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorReason {
    /// HTTP 404 on a request for an object, or a missing local file.
    NotFound,
    /// A listing answered that the bucket or container does not exist.
    NoSuchBucket,
    /// HTTP 401 or 403.
    AccessDenied,
    /// The provider's credential chain gave nothing (S3: no keys, no profile, and instance
    /// metadata unreachable or without a role).
    NoCredentials,
    /// The HTTP client refused an `http://` endpoint that was not allowed.
    PlainHttp,
    /// The endpoint could not be connected to, or did not answer in time.
    Unreachable,
    /// A local directory's file system is full (or over quota).
    OutOfSpace,
    /// A local directory the process may not write.
    DirectoryDenied,
}

impl fmt::Display for StoreErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorReason::NotFound => {
                "no such bucket, container or object: create it, or fix --store"
            }
            StoreErrorReason::NoSuchBucket => {
                "no such bucket or container: create it, or fix --store"
            }
            StoreErrorReason::AccessDenied => {
                "access denied: check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, …) and the bucket's policy"
            }
            StoreErrorReason::NoCredentials => {
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (instance metadata is not reachable here)"
            }
            StoreErrorReason::PlainHttp => {
                "the endpoint is plain http://: set AWS_ALLOW_HTTP=true (or allow_http = \"true\" under [store]) to allow it, or use https://"
            }
            StoreErrorReason::Unreachable => {
                "endpoint unreachable: check the endpoint (AWS_ENDPOINT_URL, …) and the network"
            }
            StoreErrorReason::OutOfSpace => "out of space",
            StoreErrorReason::DirectoryDenied => {
                "access denied: check the directory's permissions"
            }
        })
    }
}

impl StoreErrorReason {
    /// The reason for `e`, when its type says it; `None` for anything else (its innermost
    /// cause is then shown as is).
    pub fn of(e: &object_store::Error) -> Option<StoreErrorReason> {
        match e {
            object_store::Error::NotFound { .. } => return Some(StoreErrorReason::NotFound),
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                return Some(StoreErrorReason::AccessDenied);
            }
            _ => {}
        }
        let mut under_http = false;
        let mut cause: Option<&(dyn StdError + 'static)> = Some(e);
        while let Some(err) = cause {
            if let Some(http) = err.downcast_ref::<HttpError>() {
                if matches!(
                    http.kind(),
                    HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Interrupted
                ) {
                    return Some(StoreErrorReason::Unreachable);
                }
                under_http = true;
            }
            // Under a request's `HttpError`, the client's only builder error is a URL it
            // refuses: `http://` when only https is allowed. (A builder error outside a
            // request is the client's own configuration, not this.)
            if under_http
                && err
                    .downcast_ref::<reqwest::Error>()
                    .is_some_and(|r| r.is_builder())
            {
                return Some(StoreErrorReason::PlainHttp);
            }
            if let Some(io) = err.downcast_ref::<std::io::Error>()
                && let Some(reason) = Self::of_io(io.kind())
            {
                return Some(reason);
            }
            cause = err.source();
        }
        None
    }

    fn of_io(kind: std::io::ErrorKind) -> Option<StoreErrorReason> {
        use std::io::ErrorKind;
        match kind {
            ErrorKind::StorageFull | ErrorKind::FileTooLarge | ErrorKind::QuotaExceeded => {
                Some(StoreErrorReason::OutOfSpace)
            }
            ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
                Some(StoreErrorReason::DirectoryDenied)
            }
            ErrorKind::ConnectionRefused
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable => Some(StoreErrorReason::Unreachable),
            _ => None,
        }
    }

    /// The reason a listing failed. A listing's HTTP status stays inside `object_store`'s
    /// private retry error (it maps statuses to variants only for object requests), so a
    /// missing bucket is told by the provider's documented error code in the response.
    pub fn of_listing(e: &object_store::Error) -> Option<StoreErrorReason> {
        // The one classification by text (the status is not reachable by type): S3's
        // `NoSuchBucket` and Azure's `ContainerNotFound`, in a listing's answer only.
        let response_names_missing_bucket = || {
            let text = e.to_string();
            text.contains("NoSuchBucket") || text.contains("ContainerNotFound")
        };
        match Self::of(e) {
            Some(reason) => Some(reason),
            None if response_names_missing_bucket() => Some(StoreErrorReason::NoSuchBucket),
            None => None,
        }
    }
}

/// An object-store error as a `Kind::Store` failure saying what was being done.
/// One line, the cause once: object_store's errors repeat their cause at every layer of the
/// chain ("… HTTP error: builder error: HTTP error: builder error: …"), so only the innermost
/// cause is kept, shortened.
pub(super) fn store_failure(e: object_store::Error, what: impl Into<String>) -> anyhow::Error {
    fail(
        Kind::Store,
        format!("{}: {}", what.into(), innermost_cause(&e)),
    )
}

fn innermost_cause(e: &object_store::Error) -> String {
    let mut cause: &(dyn StdError + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The same, with what the error means and its fix instead of the raw cause when it is known:
/// "cannot use the store s3://b/p: no such bucket or container: create it, or fix --store".
pub(super) fn store_failure_explained(e: object_store::Error, what: &str) -> anyhow::Error {
    match StoreErrorReason::of(&e) {
        Some(reason) => store_failure_because(reason, what),
        None => store_failure(e, what),
    }
}

/// A `Kind::Store` failure whose reason is already known.
pub(super) fn store_failure_because(reason: StoreErrorReason, what: &str) -> anyhow::Error {
    fail(Kind::Store, format!("{what}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Opaque(&'static str);

    impl fmt::Display for Opaque {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Opaque {}

    fn generic(source: impl StdError + Send + Sync + 'static) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: Box::new(source),
        }
    }

    fn http(kind: HttpErrorKind) -> object_store::Error {
        generic(HttpError::new(kind, Opaque("connection failed")))
    }

    fn io(kind: std::io::ErrorKind) -> object_store::Error {
        generic(std::io::Error::from(kind))
    }

    #[test]
    fn statuses_object_store_maps_to_variants_are_told_by_variant() {
        let source = || Box::new(Opaque("status")) as Box<dyn StdError + Send + Sync>;
        let path = || "b/k".to_string();
        for (e, reason) in [
            (
                object_store::Error::NotFound {
                    path: path(),
                    source: source(),
                },
                StoreErrorReason::NotFound,
            ),
            (
                object_store::Error::PermissionDenied {
                    path: path(),
                    source: source(),
                },
                StoreErrorReason::AccessDenied,
            ),
            (
                object_store::Error::Unauthenticated {
                    path: path(),
                    source: source(),
                },
                StoreErrorReason::AccessDenied,
            ),
        ] {
            assert_eq!(StoreErrorReason::of(&e), Some(reason), "{e}");
        }
    }

    #[test]
    fn transport_failures_are_unreachable_whatever_their_text() {
        for kind in [
            HttpErrorKind::Connect,
            HttpErrorKind::Timeout,
            HttpErrorKind::Interrupted,
        ] {
            assert_eq!(
                StoreErrorReason::of(&http(kind)),
                Some(StoreErrorReason::Unreachable),
                "{kind:?}"
            );
        }
        assert_eq!(StoreErrorReason::of(&http(HttpErrorKind::Decode)), None);
    }

    #[test]
    fn io_kinds_say_space_permissions_or_unreachable() {
        use std::io::ErrorKind;
        for (kind, reason) in [
            (ErrorKind::StorageFull, Some(StoreErrorReason::OutOfSpace)),
            (ErrorKind::QuotaExceeded, Some(StoreErrorReason::OutOfSpace)),
            (ErrorKind::FileTooLarge, Some(StoreErrorReason::OutOfSpace)),
            (
                ErrorKind::PermissionDenied,
                Some(StoreErrorReason::DirectoryDenied),
            ),
            (
                ErrorKind::ReadOnlyFilesystem,
                Some(StoreErrorReason::DirectoryDenied),
            ),
            (
                ErrorKind::ConnectionRefused,
                Some(StoreErrorReason::Unreachable),
            ),
            (ErrorKind::InvalidData, None),
        ] {
            assert_eq!(StoreErrorReason::of(&io(kind)), reason, "{kind:?}");
        }
    }

    #[test]
    fn a_refused_http_url_under_a_request_is_plain_http() {
        let builder_error =
            reqwest::Proxy::all("http://not a host").expect_err("an unparsable URL");
        assert!(builder_error.is_builder());
        let refused = generic(HttpError::new(HttpErrorKind::Unknown, builder_error));
        assert_eq!(
            StoreErrorReason::of(&refused),
            Some(StoreErrorReason::PlainHttp)
        );
        // Outside a request it is the client's configuration, not the endpoint.
        let builder_error = reqwest::Proxy::all("http://not a host").unwrap_err();
        assert_eq!(StoreErrorReason::of(&generic(builder_error)), None);
    }

    #[test]
    fn text_never_classifies_outside_a_listing() {
        let said = generic(Opaque(
            "<Code>AccessDenied</Code> NoSuchBucket http://169.254.169.254 URL scheme is not allowed",
        ));
        assert_eq!(StoreErrorReason::of(&said), None);
        assert_eq!(
            StoreErrorReason::of_listing(&generic(Opaque(
                "Server returned non-2xx status code: 404 Not Found: <Code>NoSuchBucket</Code>"
            ))),
            Some(StoreErrorReason::NoSuchBucket)
        );
        assert_eq!(
            StoreErrorReason::of_listing(&generic(Opaque("<Code>ContainerNotFound</Code>"))),
            Some(StoreErrorReason::NoSuchBucket)
        );
        assert_eq!(
            StoreErrorReason::of_listing(&http(HttpErrorKind::Connect)),
            Some(StoreErrorReason::Unreachable)
        );
        assert_eq!(
            StoreErrorReason::of_listing(&generic(Opaque("<Code>AccessDenied</Code>"))),
            None
        );
    }

    #[test]
    fn explained_failures_are_one_line_with_the_fix() {
        let e = store_failure_explained(
            http(HttpErrorKind::Connect),
            "cannot use the store s3://b/x",
        );
        assert_eq!(
            e.to_string(),
            "cannot use the store s3://b/x: endpoint unreachable: check the endpoint (AWS_ENDPOINT_URL, …) and the network"
        );
        let e = store_failure_explained(generic(Opaque("odd\n  failure")), "writing");
        assert_eq!(e.to_string(), "writing: odd failure");
    }
}
