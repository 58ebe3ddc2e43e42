//! Loading PEM certificates and keys, and the first-boot self-signed
//! certificate.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Load `crt` (chain, leaf first) and `key`, and check that they match.
pub fn load_key_pair(
    crt: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, String> {
    let chain = load_certs(crt)?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("keyfile {}: no usable private key ({e})", key.display()))?;
    CertifiedKey::from_der(chain, key_der, provider)
        .map(Arc::new)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "keyfile {} does not match the certificate of crtfile {}",
                key.display(),
                crt.display()
            ),
            e => format!("keyfile {}: {e}", key.display()),
        })
}

/// Every certificate of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("crtfile {}: {}", path.display(), pem_error(e)))?;
    let certs: Vec<_> = iter
        .collect::<Result<_, _>>()
        .map_err(|e| format!("crtfile {}: {}", path.display(), pem_error(e)))?;
    if certs.is_empty() {
        return Err(format!(
            "crtfile {}: no certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        e => format!("not a PEM file ({e:?})"),
    }
}

/// The CA store of `cachain`.
pub fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path).map_err(|e| e.replacen("crtfile", "cachain", 1))? {
        roots
            .add(c)
            .map_err(|e| format!("cachain {}: {e}", path.display()))?;
    }
    Ok(Arc::new(roots))
}

/// Create a self-signed certificate for `hostname`, `localhost` and
/// `addrs` at `crt` (mode 0644) and its key at `key` (mode 0600).
pub fn generate(crt: &Path, key: &Path, hostname: &str, addrs: &[IpAddr]) -> Result<(), String> {
    let mut names = vec![hostname.to_string(), "localhost".to_string()];
    names.extend(addrs.iter().map(|a| a.to_string()));
    names.dedup();
    let ck = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot generate a certificate: {e}"))?;
    for p in [crt, key] {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
    }
    write_new(key, ck.signing_key.serialize_pem().as_bytes(), 0o600)?;
    write_new(crt, ck.cert.pem().as_bytes(), 0o644)?;
    log::info!(
        "generated a self-signed certificate for {hostname} in {}",
        crt.display()
    );
    Ok(())
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}
