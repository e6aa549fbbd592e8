//! TLS for the database connection, per libpq's `sslmode` (rustls; no OpenSSL needed):
//!
//! | sslmode | encrypts | checks the chain | checks the host name |
//! | --- | --- | --- | --- |
//! | `prefer` | if the server offers TLS | no | no |
//! | `require` | yes | no (yes, like libpq, when `sslrootcert` is given) | no |
//! | `verify-ca` | yes | yes | no |
//! | `verify-full` | yes | yes | yes |
//!
//! Roots: `sslrootcert` (a PEM file; `system` for the system roots), else
//! `~/.postgresql/root.crt` when it exists, else the system roots.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::db::options::{ClientCert, SslMode};
use crate::error::{Kind, fail};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// The rustls connector for a mode other than `disable`.
pub fn connector(
    mode: SslMode,
    rootcert: Option<&Path>,
    client: Option<&ClientCert>,
) -> anyhow::Result<MakeRustlsConnect> {
    let identity = client.map(client_identity).transpose()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let check = match mode {
        SslMode::Disable | SslMode::Prefer => Check::Nothing,
        SslMode::Require if rootcert.is_some() => Check::Chain,
        SslMode::Require => Check::Nothing,
        SslMode::VerifyCa => Check::Chain,
        SslMode::VerifyFull => Check::ChainAndName,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(Kind::Connect, format!("TLS setup failed: {e}")))?;
    let config = if check == Check::Nothing {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                provider.signature_verification_algorithms,
            )))
            .with_client_identity(identity)?
    } else {
        let roots = Arc::new(load_roots(rootcert)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| fail(Kind::Connect, format!("TLS setup failed: {e}")))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier {
                webpki,
                check_name: check == Check::ChainAndName,
            }))
            .with_client_identity(identity)?
    };
    Ok(MakeRustlsConnect::new(config))
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// Reads a client certificate chain and key; like libpq, a key file others can read is refused.
fn client_identity(client: &ClientCert) -> anyhow::Result<Identity> {
    use std::os::unix::fs::MetadataExt;
    let unreadable = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        fail(
            Kind::Usage,
            format!("cannot read the client {what} {}: {e}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(&client.cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable("certificate (sslcert)", &client.cert, &e))?;
    if certs.is_empty() {
        return Err(fail(
            Kind::Usage,
            format!("sslcert {} holds no certificate", client.cert.display()),
        ));
    }
    let meta =
        std::fs::metadata(&client.key).map_err(|e| unreadable("key (sslkey)", &client.key, &e))?;
    // libpq: u=rw (0600) or less, or 0640 when root owns it.
    let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
    if meta.mode() & 0o777 & !allowed != 0 {
        return Err(fail(
            Kind::Usage,
            format!(
                "private key file {} has group or world access; chmod 0600 it",
                client.key.display()
            ),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&client.key)
        .map_err(|e| unreadable("key (sslkey)", &client.key, &e))?;
    Ok((certs, key))
}

/// The last step of a rustls client configuration: with or without a client identity.
trait WithClientIdentity {
    fn with_client_identity(self, identity: Option<Identity>) -> anyhow::Result<ClientConfig>;
}

impl WithClientIdentity for rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
    fn with_client_identity(self, identity: Option<Identity>) -> anyhow::Result<ClientConfig> {
        match identity {
            None => Ok(self.with_no_client_auth()),
            Some((certs, key)) => self.with_client_auth_cert(certs, key).map_err(|e| {
                fail(
                    Kind::Usage,
                    format!("the client certificate and key do not go together: {e}"),
                )
            }),
        }
    }
}

fn load_roots(rootcert: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    // `~/.postgresql/root.crt` is already the default of `rootcert` (options.rs).
    let file = rootcert.filter(|path| *path != Path::new("system"));
    match file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    fail(
                        Kind::Usage,
                        format!("cannot read sslrootcert {}: {e}", path.display()),
                    )
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(fail(
                    Kind::Usage,
                    format!("sslrootcert {} holds no usable certificate", path.display()),
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(fail(
                    Kind::Usage,
                    "no system root certificates found; set sslrootcert to the server's CA file",
                ));
            }
        }
    }
    Ok(roots)
}

/// `prefer` and plain `require`: encrypt, trust whatever certificate is presented (libpq's
/// behaviour), but still check the handshake signatures.
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        any_format(rustls::crypto::verify_tls12_signature(
            message, cert, dss, &self.0,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        any_format(rustls::crypto::verify_tls13_signature(
            message, cert, dss, &self.0,
        ))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The handshake signature is checked with the certificate's key — but webpki reads only
/// X.509 v3 certificates, and servers present others: Citus's self-signed certificates are v1.
/// libpq (OpenSSL) accepts any version in `prefer`/`require`, where no certificate is verified
/// anyway, so a certificate webpki cannot read is accepted here too (proving possession of
/// the key of a certificate nobody vouches for adds nothing). A signature that does not
/// verify still fails.
fn any_format(
    checked: Result<HandshakeSignatureValid, rustls::Error>,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    match checked {
        Err(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding | CertificateError::Other(_),
        )) => Ok(HandshakeSignatureValid::assertion()),
        other => other,
    }
}

/// `verify-ca` and `verify-full`: the web PKI checks, with the host name check optional.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
