//! Object stores on loopback for the store tests: s3s-fs (S3 with SigV4 and presigned URL
//! checks), Azurite (Azure blobs with SAS checks) and moto_server (S3 with
//! ListMultipartUploads), each on a reserved port and stopped on drop; and a plain HTTP GET,
//! as a person clicking a link would do. The servers' binaries are installed by
//! `scripts/test.sh`; this module never installs anything.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::cluster::{PortReservation, reserve_port};
use super::scratch::TempDir;

/// Finds a test server's binary: `$<env>`, PATH, or where `scripts/test.sh` installs it.
fn find_tool(env: &str, name: &str, installed: &[PathBuf]) -> PathBuf {
    if let Ok(path) = std::env::var(env) {
        return PathBuf::from(path);
    }
    let which = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .expect("sh");
    let found = String::from_utf8_lossy(&which.stdout).trim().to_string();
    if !found.is_empty() {
        return PathBuf::from(found);
    }
    installed
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| {
            panic!("{name} not found: run `bash scripts/test.sh`, which installs it, or set {env}")
        })
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
}

/// Starts a server on a reserved port with `spawn(port)`, again on another port if it exits
/// before listening (its port was taken by something outside the suite).
fn start_server(what: &str, spawn: impl Fn(u16) -> Child) -> (PortReservation, Child) {
    for _ in 0..5 {
        let reservation = reserve_port();
        let mut child = spawn(reservation.port);
        if wait_for_port(reservation.port, what, &mut child) {
            return (reservation, child);
        }
    }
    panic!("{what} could not start on any of five ports");
}

/// Waits until `child` listens on `port`; false when it exited first (the port was taken).
fn wait_for_port(port: u16, what: &str, child: &mut Child) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Ours, not a stranger's: the child is still alive once the port answers.
            return child.try_wait().is_ok_and(|status| status.is_none());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not start listening on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// An S3-compatible server on loopback (s3s-fs: validates SigV4 signatures, presigned URLs
/// and their expiry), one per test, storing objects as files under `dir`.
pub struct S3Server {
    pub port: u16,
    _port: PortReservation,
    pub dir: TempDir,
    child: Child,
}

pub const S3_ACCESS_KEY: &str = "orgexport-test-key";
pub const S3_SECRET_KEY: &str = "orgexport-test-secret-Zx81";
pub const S3_BUCKET: &str = "exports";

impl S3Server {
    pub fn start() -> S3Server {
        let bin = find_tool(
            "ORGEXPORT_S3S_FS",
            "s3s-fs",
            &[home().join(".cargo/bin/s3s-fs")],
        );
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.path().join(S3_BUCKET)).unwrap();
        let (reservation, child) = start_server("s3s-fs", |port| {
            Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting s3s-fs")
        });
        S3Server {
            port: reservation.port,
            _port: reservation,
            dir,
            child,
        }
    }

    /// The environment the tool reads its S3 settings from.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.to_string()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }

    /// Where s3s-fs keeps an object.
    pub fn object_file(&self, bucket: &str, key: &str) -> PathBuf {
        self.dir.path().join(bucket).join(key)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Azurite's blob service on loopback (validates SAS signatures and expiry).
pub struct Azurite {
    pub port: u16,
    _port: PortReservation,
    child: Child,
}

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl Azurite {
    pub fn start() -> Azurite {
        let bin = find_tool(
            "ORGEXPORT_AZURITE",
            "azurite-blob",
            &[home().join(".cache/orgexport-test-tools/node_modules/.bin/azurite-blob")],
        );
        let (reservation, child) = start_server("azurite", |port| {
            Command::new(&bin)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .args([
                    "--inMemoryPersistence",
                    "--disableTelemetry",
                    "--silent",
                    "--skipApiVersionCheck",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting azurite-blob")
        });
        Azurite {
            port: reservation.port,
            _port: reservation,
            child,
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
            (
                "AZURITE_BLOB_STORAGE_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
        ]
    }

    /// Creates a container with the account key (object_store cannot create containers).
    pub fn create_container(&self, name: &str) {
        use base64::Engine;
        use hmac::{Hmac, KeyInit, Mac};
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        // Shared Key string-to-sign for "Create Container": verb, 11 standard headers (all
        // empty here but Content-Length "0"… which the 2015+ rules want empty), canonical
        // x-ms headers, canonical resource.
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURITE_KEY)
            .unwrap();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(string_to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .put(&format!(
                "http://127.0.0.1:{}/{AZURITE_ACCOUNT}/{name}?restype=container",
                self.port
            ))
            .header("x-ms-date", &date)
            .header("x-ms-version", version)
            .header(
                "Authorization",
                &format!("SharedKey {AZURITE_ACCOUNT}:{signature}"),
            )
            .send_empty()
            .unwrap();
        assert_eq!(response.status().as_u16(), 201, "creating container {name}");
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP GET, as a person clicking the link would do: (status, body).
pub fn http_get(url: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    (status, body)
}

/// moto's S3 server on loopback. It checks no signatures, but it implements
/// ListMultipartUploads, which s3s-fs lacks: the way to prove an aborted upload left no parts.
pub struct MotoServer {
    pub port: u16,
    _port: PortReservation,
    child: Child,
}

impl MotoServer {
    pub fn start() -> MotoServer {
        let bin = find_tool(
            "ORGEXPORT_MOTO_SERVER",
            "moto_server",
            &[home().join(".cache/orgexport-test-tools/moto/bin/moto_server")],
        );
        let (reservation, child) = start_server("moto_server", |port| {
            Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting moto_server")
        });
        MotoServer {
            port: reservation.port,
            _port: reservation,
            child,
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "moto".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "moto".to_string()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }

    pub fn create_bucket(&self, bucket: &str) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let status = agent
            .put(&format!("http://127.0.0.1:{}/{bucket}", self.port))
            .send_empty()
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 200, "creating bucket {bucket}");
    }

    /// The ListMultipartUploads response (XML) of a bucket.
    pub fn multipart_uploads(&self, bucket: &str) -> String {
        let (status, body) = http_get(&format!("http://127.0.0.1:{}/{bucket}?uploads", self.port));
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    }

    /// The response headers of a HeadObject (lower-case names). moto checks no signature,
    /// but answers an anonymous HEAD of a KMS-encrypted object with 403: any SigV4-shaped
    /// Authorization header will do.
    pub fn head(&self, bucket: &str, key: &str) -> Vec<(String, String)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .head(&format!("http://127.0.0.1:{}/{bucket}/{key}", self.port))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=moto/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
            )
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "HEAD {bucket}/{key}");
        response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// The ListObjectsV2 response (XML) of a bucket.
    pub fn objects(&self, bucket: &str) -> String {
        let (status, body) = http_get(&format!(
            "http://127.0.0.1:{}/{bucket}?list-type=2",
            self.port
        ));
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
