//! Native TLS on the partner port (the contracts say HTTPS only), for
//! deployments without a TLS-terminating proxy in front: rustls, with the
//! certificate chain and key read from `TLS_CERT_FILE` and `TLS_KEY_FILE`
//! and read again when either file changes (a renewed certificate takes
//! effect without a restart; connections already open keep theirs).

use crate::config::TlsConfig;
use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How often the files are checked for a change.
const RELOAD_POLL: Duration = Duration::from_secs(2);

/// The partner port's TLS: the acceptor, and the certificate it presents.
pub(crate) struct Tls {
    /// Wraps each accepted connection.
    pub(crate) acceptor: TlsAcceptor,
    certificate: Arc<ReloadingCertificate>,
}

impl Tls {
    /// Reads the certificate and key; an error names the file and what is
    /// wrong with it, so the edge does not start without them.
    pub(crate) fn load(config: &TlsConfig) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certificate = Arc::new(ReloadingCertificate {
            current: RwLock::new(Arc::new(read(config, &provider)?)),
            files: std::sync::Mutex::new(FileState {
                loaded: stamps(config),
                refused: None,
            }),
            config: config.clone(),
            provider: provider.clone(),
        });
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        // The edge speaks HTTP/1.1 only.
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            certificate,
        })
    }

    /// Checks the files every [`RELOAD_POLL`] until `stop`, and presents a
    /// changed certificate from the next handshake on. A file that does
    /// not read (half-written, a wrong key) is logged and the certificate
    /// in use stays.
    pub(crate) async fn watch(&self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RELOAD_POLL) => self.certificate.reload_if_changed(),
            }
        }
    }
}

/// The files' modification times (and sizes), to notice a change.
type Stamps = [Option<(SystemTime, u64)>; 2];

fn stamps(config: &TlsConfig) -> Stamps {
    let stamp = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .and_then(|meta| Some((meta.modified().ok()?, meta.len())))
    };
    [stamp(&config.cert_file), stamp(&config.key_file)]
}

/// Reads the chain and key and checks they belong together.
fn read(config: &TlsConfig, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let cert_file = config.cert_file.display();
    let chain = CertificateDer::pem_file_iter(&config.cert_file)
        .with_context(|| format!("TLS_CERT_FILE {cert_file}: cannot read it"))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("TLS_CERT_FILE {cert_file}: not a PEM certificate chain"))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "TLS_CERT_FILE {cert_file}: holds no certificate"
    );
    let key_file = config.key_file.display();
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .with_context(|| format!("TLS_KEY_FILE {key_file}: no PEM private key in it"))?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!("TLS_KEY_FILE {key_file} does not fit the certificate in TLS_CERT_FILE {cert_file}")
    })
}

/// The certificate presented to every new connection; replaced when the
/// files change.
#[derive(Debug)]
struct ReloadingCertificate {
    current: RwLock<Arc<CertifiedKey>>,
    files: std::sync::Mutex<FileState>,
    config: TlsConfig,
    provider: Arc<CryptoProvider>,
}

/// What the watcher knows of the files.
#[derive(Debug)]
struct FileState {
    /// The files as last loaded.
    loaded: Stamps,
    /// Files as they were when they last failed to load (warned once).
    refused: Option<Stamps>,
}

impl ReloadingCertificate {
    fn reload_if_changed(&self) {
        let now = stamps(&self.config);
        let Ok(mut files) = self.files.lock() else {
            return;
        };
        if files.loaded == now {
            return;
        }
        match read(&self.config, &self.provider) {
            Ok(certificate) => {
                if let Ok(mut current) = self.current.write() {
                    *current = Arc::new(certificate);
                    files.loaded = now;
                    files.refused = None;
                    tracing::info!("TLS certificate reloaded");
                }
            }
            // Often a renewal caught half-way (the certificate written, the
            // key not yet): tried again at every check, warned once.
            Err(error) => {
                if files.refused != Some(now) {
                    files.refused = Some(now);
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "TLS files changed but do not load; still presenting the previous certificate"
                    );
                }
            }
        }
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| current.clone())
    }
}
