//! Opening a connection with [`ConnectOptions`] (TLS per `sslmode`, the whole attempt bounded
//! by `connect_timeout`), and what a failure means for the operator; the open session
//! ([`Db`]) and cancelling its running statement.

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::db::options::{ConnectOptions, SslMode};
use crate::error::{Kind, fail};

/// An open connection. The connection's driver runs on its own task; when it ends with an
/// error (server gone, backend terminated) the next query on the client fails.
pub struct Db {
    pub client: Client,
    pub options: ConnectOptions,
}

/// Opens a connection, turning every failure into a one-line `Kind::Connect` error that names
/// the target and suggests the fix.
pub async fn connect(options: &ConnectOptions) -> anyhow::Result<Db> {
    let config = options.pg_config();
    // `connect_timeout` bounds the whole connection — TCP, TLS, startup and authentication —
    // as libpq's does: a server that accepts and never answers fails in that time.
    let attempt = async {
        if options.sslmode == SslMode::Disable {
            config.connect(NoTls).await.map(|(client, connection)| {
                tokio::spawn(connection);
                client
            })
        } else {
            let tls = crate::db::tls::connector(
                options.sslmode,
                options.sslrootcert.as_deref(),
                options.client_cert.as_ref(),
            )?;
            config.connect(tls).await.map(|(client, connection)| {
                tokio::spawn(connection);
                client
            })
        }
        .map_err(anyhow::Error::new)
    };
    let client = match tokio::time::timeout(options.connect_timeout, attempt).await {
        Ok(client) => client,
        Err(_) => {
            return Err(fail(
                Kind::Connect,
                format!(
                    "cannot connect to the database ({}): no answer within {} s (connect_timeout); check the host and port, or raise PGCONNECT_TIMEOUT",
                    options.describe(),
                    options.connect_timeout.as_secs()
                ),
            ));
        }
    };
    // The connection's driver runs on its own task; when it ends with an error (server gone,
    // backend terminated) the next query on the client fails with that error.
    let client = client.map_err(|err| match err.downcast_ref::<tokio_postgres::Error>() {
        Some(err) => fail(
            Kind::Connect,
            format!(
                "cannot connect to the database ({}): {}{}",
                options.describe(),
                connect_cause(err),
                connect_hint(err, options)
            ),
        ),
        None => err,
    })?;
    Ok(Db {
        client,
        options: options.clone(),
    })
}

/// The certificate problem behind a failed TLS handshake, if that is what failed.
fn certificate_error(err: &tokio_postgres::Error) -> Option<&rustls::CertificateError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(inner) = source {
        let rustls_err = inner.downcast_ref::<rustls::Error>().or_else(|| {
            inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|e| e.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(cert)) = rustls_err {
            return Some(cert);
        }
        source = inner.source();
    }
    None
}

/// The most specific cause: the server's own message, or the innermost source error.
fn connect_cause(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return db.message().to_string();
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        source = inner.source();
    }
    text
}

fn connect_hint(err: &tokio_postgres::Error, options: &ConnectOptions) -> &'static str {
    use rustls::CertificateError;
    match certificate_error(err) {
        Some(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {
            return " [hint: the server's certificate is not issued for this host name; connect by the name in the certificate, or use sslmode=verify-ca]";
        }
        Some(_) => {
            return " [hint: the server's certificate is not trusted; point sslrootcert at the CA that signed it]";
        }
        None => {}
    }
    let text = connect_cause(err);
    if text.contains("password missing") {
        return " [hint: the server wants a password: set PGPASSWORD or add it to ~/.pgpass]";
    }
    if options.sslmode == SslMode::Require && text.contains("TLS") {
        return " [hint: the server does not accept TLS; check its ssl setting or use sslmode=prefer]";
    }
    match err.code() {
        Some(code) if *code == SqlState::INVALID_PASSWORD => {
            " [hint: check the password: set PGPASSWORD or add it to ~/.pgpass]"
        }
        Some(code) if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            " [hint: check the user name and the server's pg_hba.conf]"
        }
        Some(code) if *code == SqlState::INVALID_CATALOG_NAME => {
            " [hint: check the database name (dbname / PGDATABASE)]"
        }
        Some(_) => "",
        None => " [hint: is the server running and reachable on that host and port?]",
    }
}

/// What cancels a session's running statement from elsewhere (while the session itself is
/// busy in a transaction).
#[derive(Clone)]
pub struct Canceller {
    token: tokio_postgres::CancelToken,
    options: ConnectOptions,
}

impl Canceller {
    /// Asks the server to cancel whatever statement the session is running (after Ctrl-C),
    /// waiting at most two seconds; failures are ignored — the session ends with the process.
    pub async fn cancel(&self) {
        let options = &self.options;
        let cancel = async {
            if options.sslmode == SslMode::Disable {
                let _ = self.token.cancel_query(NoTls).await;
            } else if let Ok(tls) = crate::db::tls::connector(
                options.sslmode,
                options.sslrootcert.as_deref(),
                options.client_cert.as_ref(),
            ) {
                let _ = self.token.cancel_query(tls).await;
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), cancel).await;
    }
}

impl Db {
    pub fn canceller(&self) -> Canceller {
        Canceller {
            token: self.client.cancel_token(),
            options: self.options.clone(),
        }
    }

    /// The server's version, the session's role and database, as `check` reports them.
    pub async fn server_identity(&self) -> anyhow::Result<String> {
        let row = self
            .client
            .query_one(
                "SELECT split_part(current_setting('server_version'), ' ', 1), current_user::text, current_database()::text",
                &[],
            )
            .await?;
        Ok(format!(
            "{} — PostgreSQL {} as role {} on {}",
            self.options.describe(),
            row.get::<_, String>(0),
            row.get::<_, String>(1),
            row.get::<_, String>(2)
        ))
    }

    /// Whether the session's role may SELECT from a table (`"schema"."table"`).
    pub async fn can_select(&self, qualified: &str) -> anyhow::Result<bool> {
        Ok(self
            .client
            .query_one("SELECT has_table_privilege($1, 'SELECT')", &[&qualified])
            .await?
            .get(0))
    }

    /// Cancels whatever statement this session is running; see [`Canceller::cancel`].
    pub async fn cancel_running(&self) {
        self.canceller().cancel().await;
    }
}
