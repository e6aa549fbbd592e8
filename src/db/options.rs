//! Connection options the way libpq users expect them: a `postgres://` URL (several hosts
//! too) or `key=value` string (`--database-url` / `DATABASE_URL`), a connection service
//! (`service=`, `PGSERVICE`), the `PG*` variables, then libpq's defaults; the password from
//! the URL, `PGPASSWORD` or the password file (`PGPASSFILE`, `~/.pgpass`); TLS settings and
//! client certificates. What libpq offers and orgexport does not is an error naming it. The
//! password is never part of anything this module prints: [`ConnectOptions::describe`] is
//! what messages use. Opening the connection is `connect.rs`'s; TLS is `tls.rs`'s — both
//! depend on this module, and it on neither.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::TargetSessionAttrs;

use crate::error::{Kind, fail};

/// A client certificate and its private key (PEM files), for servers that authenticate by
/// certificate (`hostssl … cert` in pg_hba.conf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> anyhow::Result<SslMode> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "invalid sslmode {other:?}; use disable, prefer, require, verify-ca or verify-full"
                    ),
                ));
            }
        })
    }
}

/// Resolved connection parameters.
#[derive(Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub dbname: String,
    password: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Duration,
    options: Option<String>,
    /// `application_name`, `PGAPPNAME`, or `orgexport`.
    pub application_name: String,
    /// Every host (`h1,h2`), tried in order; `host` is the first.
    hosts: Vec<String>,
    /// One port for all hosts, or one per host.
    ports: Vec<u16>,
    target_session_attrs: TargetSessionAttrs,
    /// `sslcert`/`sslkey`, `PGSSLCERT`/`PGSSLKEY`, or `~/.postgresql/postgresql.crt`/`.key`.
    pub(crate) client_cert: Option<ClientCert>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The raw `key → value` parameters, before defaults.
type Params = BTreeMap<String, String>;

impl ConnectOptions {
    /// The same options for one other server (a Citus worker from `pg_dist_node`):
    /// credentials, TLS and timeouts as for the first.
    pub fn for_server(&self, host: &str, port: u16) -> ConnectOptions {
        let mut options = self.clone();
        options.host = host.to_string();
        options.port = port;
        options.hosts = vec![host.to_string()];
        options.ports = vec![port];
        options
    }

    /// Resolves `database_url` (URL or `key=value` form), then the `PG*` environment, then
    /// libpq's defaults, then the password file.
    pub fn resolve(database_url: Option<&str>) -> anyhow::Result<ConnectOptions> {
        let mut params = parse_connection_string(database_url)?;
        reject_unsupported_environment()?;
        // libpq's order: the connection string, then the service file, then the environment.
        add_service(&mut params)?;
        add_environment(&mut params);
        let mut options = ConnectOptions::from_params(params)?;
        if options.password.is_none() {
            options.password = password_from_file(&options);
        }
        Ok(options)
    }

    /// The options `params` set, libpq's defaults for the rest; a parameter orgexport does not
    /// know is an error.
    fn from_params(mut params: Params) -> anyhow::Result<ConnectOptions> {
        let (hosts, ports) = hosts_and_ports(&mut params)?;
        // The first host stands for the connection in the password file and in messages.
        let host = hosts[0].clone();
        let port = ports[0];
        let target_session_attrs = target_session_attrs(&mut params)?;
        let user = params.remove("user").unwrap_or_else(crate::host::os_user);
        let dbname = params.remove("dbname").unwrap_or_else(|| user.clone());
        let sslmode = SslMode::parse(params.remove("sslmode").as_deref().unwrap_or("prefer"))?;
        let connect_timeout = match params.remove("connect_timeout") {
            Some(text) => Duration::from_secs(text.parse().map_err(|_| {
                fail(
                    Kind::Usage,
                    format!("invalid connect_timeout {text:?}: expected seconds"),
                )
            })?),
            None => Duration::from_secs(10),
        };
        let fallback = params.remove("fallback_application_name");
        let application_name = params
            .remove("application_name")
            .or(fallback)
            .unwrap_or_else(|| "orgexport".to_string());
        let client_cert = client_cert(&mut params)?;
        let options = ConnectOptions {
            client_cert,
            hosts,
            ports,
            target_session_attrs,
            application_name,
            password: params.remove("password"),
            // libpq's default: ~/.postgresql/root.crt when it exists (then `require` checks
            // the chain too, as libpq does).
            sslrootcert: params
                .remove("sslrootcert")
                .map(PathBuf::from)
                .or_else(|| home_file("root.crt").filter(|p| p.exists())),
            options: params.remove("options"),
            host,
            port,
            user,
            dbname,
            sslmode,
            connect_timeout,
        };
        if let Some(key) = params.keys().next() {
            let named = if is_plain_word(key) {
                format!(" {key:?}")
            } else {
                String::new()
            };
            return Err(fail(
                Kind::Usage,
                format!("unsupported connection parameter{named} in the database URL"),
            ));
        }
        Ok(options)
    }

    /// `host=… port=… user=… dbname=…`: what messages say. Never the password.
    pub fn describe(&self) -> String {
        let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
        format!(
            "host={} port={} user={} dbname={}",
            self.hosts.join(","),
            ports.join(","),
            self.user,
            self.dbname
        )
    }

    pub(crate) fn pg_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        for host in &self.hosts {
            config.host(host);
        }
        for port in &self.ports {
            config.port(*port);
        }
        config
            .target_session_attrs(self.target_session_attrs)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .connect_timeout(self.connect_timeout)
            .ssl_mode(match self.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                    tokio_postgres::config::SslMode::Require
                }
            });
        if let Some(password) = &self.password {
            config.password(password);
        }
        if let Some(options) = &self.options {
            config.options(options);
        }
        config
    }
}

/// The parameters of `--database-url` / `DATABASE_URL`: a `postgres://` URL or a `key=value`
/// string; any other URL is an error that does not echo it (it may hold a password).
fn parse_connection_string(database_url: Option<&str>) -> anyhow::Result<Params> {
    match database_url.map(str::trim) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            parse_url(url)
        }
        // Any other URL (`postgress://`, `mysql://`): say so without echoing it, since it
        // may hold a password.
        Some(text) if text.contains("://") => {
            let scheme = text.split("://").next().unwrap_or_default();
            let shown = if is_plain_word(scheme) {
                format!(" {scheme}://")
            } else {
                String::new()
            };
            Err(fail(
                Kind::Usage,
                format!(
                    "the database URL's scheme{shown} is not postgres:// or postgresql://; write postgres://user:password@host:port/dbname"
                ),
            ))
        }
        Some(text) => parse_key_values(text),
        None => Ok(Params::new()),
    }
}

/// What the connection service (`service=` or `PGSERVICE`) sets and `params` does not.
fn add_service(params: &mut Params) -> anyhow::Result<()> {
    let service = params
        .remove("service")
        .or_else(|| std::env::var("PGSERVICE").ok().filter(|s| !s.is_empty()));
    if let Some(name) = service {
        for (key, value) in service_params(&name)? {
            params.entry(key).or_insert(value);
        }
    }
    Ok(())
}

/// The `PG*` variables that set a connection parameter, with it (`--help`'s man page lists
/// them from here).
pub const PG_VARIABLES: &[(&str, &str)] = &[
    ("host", "PGHOST"),
    ("port", "PGPORT"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("dbname", "PGDATABASE"),
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("options", "PGOPTIONS"),
    ("application_name", "PGAPPNAME"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
];

/// What the `PG*` variables set and `params` does not (an empty variable sets nothing).
fn add_environment(params: &mut Params) {
    for &(key, var) in PG_VARIABLES {
        if !params.contains_key(key)
            && let Ok(value) = std::env::var(var)
            && !value.is_empty()
        {
            params.insert(key.to_string(), value);
        }
    }
}

/// `host` and `port` (comma lists, libpq's defaults): every host, and one port for all or
/// one per host.
fn hosts_and_ports(params: &mut Params) -> anyhow::Result<(Vec<String>, Vec<u16>)> {
    let ports: Vec<u16> = params
        .remove("port")
        .unwrap_or_else(|| "5432".to_string())
        .split(',')
        .map(|text| {
            text.trim().parse().map_err(|_| {
                fail(
                    Kind::Usage,
                    format!("invalid port {text:?}: expected a number"),
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let hosts: Vec<String> = match params.remove("host") {
        Some(host) => host.split(',').map(|h| h.trim().to_string()).collect(),
        None => default_hosts(ports[0]),
    };
    if ports.len() != 1 && ports.len() != hosts.len() {
        return Err(fail(
            Kind::Usage,
            format!(
                "{} ports for {} hosts: give one port, or one per host",
                ports.len(),
                hosts.len()
            ),
        ));
    }
    Ok((hosts, ports))
}

fn target_session_attrs(params: &mut Params) -> anyhow::Result<TargetSessionAttrs> {
    Ok(match params.remove("target_session_attrs").as_deref() {
        None | Some("any") => TargetSessionAttrs::Any,
        Some("read-write") => TargetSessionAttrs::ReadWrite,
        Some("read-only") => TargetSessionAttrs::ReadOnly,
        Some(other) => {
            return Err(fail(
                Kind::Usage,
                format!(
                    "target_session_attrs {other:?} is not supported; use any, read-write or read-only"
                ),
            ));
        }
    })
}

/// A file under `~/.postgresql`, where libpq looks for certificates by default.
fn home_file(name: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql").join(name))
}

/// `sslcert` and `sslkey`, or libpq's defaults `~/.postgresql/postgresql.crt` and `.key` when
/// that certificate exists; a certificate without a key is an error.
fn client_cert(params: &mut Params) -> anyhow::Result<Option<ClientCert>> {
    let sslcert = params
        .remove("sslcert")
        .map(PathBuf::from)
        .or_else(|| home_file("postgresql.crt").filter(|p| p.exists()));
    let sslkey = params
        .remove("sslkey")
        .map(PathBuf::from)
        .or_else(|| home_file("postgresql.key"));
    match (sslcert, sslkey) {
        (Some(cert), Some(key)) => Ok(Some(ClientCert { cert, key })),
        (Some(cert), None) => Err(fail(
            Kind::Usage,
            format!(
                "sslcert {} is given without sslkey; set both",
                cert.display()
            ),
        )),
        (None, _) => Ok(None),
    }
}

/// With no host configured: the local socket directory where the server's socket for
/// `port` is — Debian's libpq's `/var/run/postgresql`, then the upstream default `/tmp` —
/// then TCP to localhost (tried in order, as for `host=h1,h2`: a stale socket file or a
/// socket the role may not use still reaches a server listening on localhost).
fn default_hosts(port: u16) -> Vec<String> {
    let socket = format!(".s.PGSQL.{port}");
    ["/var/run/postgresql", "/tmp"]
        .iter()
        .filter(|dir| std::path::Path::new(dir).join(&socket).exists())
        .take(1)
        .map(|dir| dir.to_string())
        .chain(["localhost".to_string()])
        .collect()
}

/// libpq environment variables for features orgexport does not offer: set, they are an error
/// naming them, never silently ignored (a connection elsewhere than the operator meant).
pub const UNSUPPORTED_VARIABLES: &[&str] = &[
    "PGHOSTADDR",
    "PGSSLCRL",
    "PGSSLCRLDIR",
    "PGSSLSNI",
    "PGLOADBALANCEHOSTS",
    "PGREQUIREPEER",
    "PGREQUIREAUTH",
    "PGCHANNELBINDING",
    "PGGSSENCMODE",
    "PGKRBSRVNAME",
    "PGGSSLIB",
    "PGSSLMINPROTOCOLVERSION",
    "PGSSLMAXPROTOCOLVERSION",
    "PGSSLNEGOTIATION",
];

fn reject_unsupported_environment() -> anyhow::Result<()> {
    for var in UNSUPPORTED_VARIABLES {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            return Err(fail(
                Kind::Usage,
                format!(
                    "{var} is set, but orgexport does not support it yet; unset it (or pass the connection in --database-url)"
                ),
            ));
        }
    }
    Ok(())
}

/// The parameters of connection service `name` (libpq's `pg_service.conf`): from
/// `PGSERVICEFILE` (or `~/.pg_service.conf`), then `PGSYSCONFDIR/pg_service.conf` (default
/// `/etc/postgresql-common`). The first file that defines the service wins, as in libpq.
fn service_params(name: &str) -> anyhow::Result<Params> {
    let mut files = Vec::new();
    match std::env::var_os("PGSERVICEFILE") {
        Some(file) => files.push(PathBuf::from(file)),
        None => {
            if let Some(home) = std::env::var_os("HOME") {
                files.push(PathBuf::from(home).join(".pg_service.conf"));
            }
        }
    }
    let sysconf = std::env::var_os("PGSYSCONFDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/postgresql-common"));
    files.push(sysconf.join("pg_service.conf"));
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        if let Some(params) = parse_service_file(&text, name) {
            return Ok(params);
        }
    }
    Err(fail(
        Kind::Usage,
        format!(
            "connection service {name:?} is not defined in {}; define it there or set PGSERVICEFILE",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    ))
}

/// The `key=value` lines of section `[name]` of a service file (`#` starts a comment).
fn parse_service_file(text: &str, name: &str) -> Option<Params> {
    let mut in_section = false;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = section.trim() == name;
            if in_section {
                found.get_or_insert_with(Params::new);
            }
            continue;
        }
        if in_section && let Some((key, value)) = line.split_once('=') {
            found
                .get_or_insert_with(Params::new)
                .entry(key.trim().to_string())
                .or_insert_with(|| value.trim().to_string());
        }
    }
    found
}

/// Letters, digits and `_` only: safe to repeat in an error (never a password or a URL).
fn is_plain_word(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 40
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_url(text: &str) -> anyhow::Result<Params> {
    // `postgres://user@h1:5432,h2:5433/db`: several hosts, which the url crate does not parse;
    // they are taken out first and the rest is parsed with a stand-in host.
    let (text, hosts) = split_host_list(text);
    let mut params = parse_single_host_url(&text)?;
    if let Some((hosts, ports)) = hosts {
        params.insert("host".into(), hosts);
        if !ports.is_empty() {
            params.insert("port".into(), ports);
        }
    }
    Ok(params)
}

/// Takes a comma-separated host list out of a URL's authority: the URL with one stand-in
/// host, and the hosts and ports (comma lists; ports empty when none were given).
fn split_host_list(text: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = text.split_once("://") else {
        return (text.to_string(), None);
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostlist) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    if !hostlist.contains(',') {
        return (text.to_string(), None);
    }
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for entry in hostlist.split(',') {
        // `[::1]:5432`, `host:5432`, `host`
        let (host, port) = match entry.rsplit_once(':') {
            Some((h, p)) if !entry.starts_with('[') || h.ends_with(']') => (h, Some(p)),
            _ => (entry, None),
        };
        hosts.push(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        );
        if let Some(port) = port {
            ports.push(port.to_string());
        }
    }
    (
        format!("{scheme}://{userinfo}localhost{tail}"),
        Some((hosts.join(","), ports.join(","))),
    )
}

fn parse_single_host_url(text: &str) -> anyhow::Result<Params> {
    let url = url::Url::parse(text).map_err(|e| {
        // The URL may hold a password: say what is wrong, never echo it.
        fail(
            Kind::Usage,
            format!(
                "invalid database URL ({e}); expected postgres://user:password@host:port/dbname"
            ),
        )
    })?;
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| fail(Kind::Usage, "invalid percent-encoding in the database URL"))
    };
    let mut params = Params::new();
    if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
        params.insert(
            "host".into(),
            decode(host.trim_start_matches('[').trim_end_matches(']'))?,
        );
    }
    if let Some(port) = url.port() {
        params.insert("port".into(), port.to_string());
    }
    if !url.username().is_empty() {
        params.insert("user".into(), decode(url.username())?);
    }
    if let Some(password) = url.password() {
        params.insert("password".into(), decode(password)?);
    }
    let path = url.path().trim_start_matches('/');
    if !path.is_empty() {
        params.insert("dbname".into(), decode(path)?);
    }
    for (key, value) in url.query_pairs() {
        params.insert(key.into_owned(), value.into_owned());
    }
    Ok(params)
}

/// libpq's `key=value key='quoted value'` connection strings.
fn parse_key_values(text: &str) -> anyhow::Result<Params> {
    let mut params = Params::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            // Echo the key only when it cannot be a password or a URL by mistake.
            let after = if is_plain_word(&key) {
                format!(" after {key:?}")
            } else {
                String::new()
            };
            return Err(fail(
                Kind::Usage,
                format!(
                    "invalid connection string: missing \"=\"{after}; expected key=value pairs or a postgres:// URL"
                ),
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(fail(
                            Kind::Usage,
                            "invalid connection string: unterminated quoted value",
                        ));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        params.insert(key, value);
    }
    Ok(params)
}

/// The password file, as libpq reads it: `PGPASSFILE` or `~/.pgpass`, ignored unless it is
/// private (mode 0600 or stricter); the first `host:port:db:user:password` line that matches
/// (`*` matches anything; `\` escapes `:` and `\`).
fn password_from_file(options: &ConnectOptions) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = match std::env::var_os("PGPASSFILE") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
    };
    let meta = std::fs::metadata(&path).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "orgexport: warning: password file {} has group or world access; ignored (chmod 0600 it)",
            path.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    // A socket directory is written as "localhost" in the password file.
    let host = if options.host.starts_with('/') {
        "localhost"
    } else {
        options.host.as_str()
    };
    let port = options.port.to_string();
    let wanted = [
        host,
        port.as_str(),
        options.dbname.as_str(),
        options.user.as_str(),
    ];
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let fields = split_pgpass_line(line);
            (fields.len() == 5).then_some(fields)
        })
        .find(|fields| {
            fields[..4]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field == "*" || field == want)
        })
        .map(|fields| fields[4].clone())
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => fields.last_mut().unwrap().extend(chars.next()),
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters_are_decoded() {
        let params =
            parse_url("postgres://app%40x:s%3Acret@db.example:6543/my%20db?sslmode=disable")
                .unwrap();
        assert_eq!(params["user"], "app@x");
        assert_eq!(params["password"], "s:cret");
        assert_eq!(params["host"], "db.example");
        assert_eq!(params["port"], "6543");
        assert_eq!(params["dbname"], "my db");
        assert_eq!(params["sslmode"], "disable");
    }

    #[test]
    fn key_value_strings_allow_quotes_and_escapes() {
        let params = parse_key_values("host=/tmp user='a b' password=x\\ y dbname = d").unwrap();
        assert_eq!(params["host"], "/tmp");
        assert_eq!(params["user"], "a b");
        assert_eq!(params["password"], "x y");
        assert_eq!(params["dbname"], "d");
    }

    #[test]
    fn description_never_holds_the_password() {
        let options =
            ConnectOptions::resolve(Some("postgres://u:hunter2@h:1/d?sslmode=disable")).unwrap();
        assert!(!options.describe().contains("hunter2"));
        assert!(!format!("{options:?}").contains("hunter2"));
    }

    #[test]
    fn bad_url_error_does_not_echo_the_password() {
        let err = ConnectOptions::resolve(Some("postgres://u:hunter2@h:notaport/d")).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn pgpass_lines_split_on_unescaped_colons() {
        assert_eq!(
            split_pgpass_line("h:5432:*:u:pa\\:ss:word"),
            vec!["h", "5432", "*", "u", "pa:ss:word"]
        );
    }

    #[test]
    fn urls_with_several_hosts_are_split_like_libpq() {
        let params = parse_url("postgres://u:pw@h1:5432,h2:5433/db?sslmode=disable").unwrap();
        assert_eq!(params["host"], "h1,h2");
        assert_eq!(params["port"], "5432,5433");
        assert_eq!(params["user"], "u");
        assert_eq!(params["dbname"], "db");
        let params = parse_url("postgres://h1,h2/db").unwrap();
        assert_eq!(params["host"], "h1,h2");
        assert!(!params.contains_key("port"));
    }

    #[test]
    fn service_files_are_read_like_libpq() {
        let text = "# comment\n[other]\nhost=elsewhere\n[prod]\nhost = db.internal\nport=6432\ndbname=saas\n";
        let params = parse_service_file(text, "prod").unwrap();
        assert_eq!(params["host"], "db.internal");
        assert_eq!(params["port"], "6432");
        assert!(parse_service_file(text, "nope").is_none());
    }

    #[test]
    fn unknown_sslmode_is_a_usage_error() {
        let err = ConnectOptions::resolve(Some("postgres://u@h/d?sslmode=bogus")).unwrap_err();
        assert_eq!(crate::error::kind_of(&err), Kind::Usage);
    }
}
