//! HTTPS for the sim: a local CA (self-signed, generated once and kept beside the state file if
//! there is one) and a server certificate for `127.0.0.1`, `::1`, `localhost` (and the listen IP),
//! issued at every start. rustls with the aws-lc-rs provider — the provider reqwest 0.13's
//! `rustls` feature already links — passed explicitly, so no process-wide default is installed
//! or required.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// What `Sim::start` needs to serve HTTPS.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// The CA certificate (PEM) a client must trust.
    pub ca_pem: String,
    /// Where the CA certificate is kept on disk (only with a state file).
    pub ca_file: Option<PathBuf>,
}

/// `<state_file>.ca.pem` and `<state_file>.ca-key.pem`.
pub fn ca_paths(state_file: &Path) -> (PathBuf, PathBuf) {
    let mut cert = state_file.as_os_str().to_owned();
    cert.push(".ca.pem");
    let mut key = state_file.as_os_str().to_owned();
    key.push(".ca-key.pem");
    (PathBuf::from(cert), PathBuf::from(key))
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("tls: {what}: {e}")
}

/// The CA's parameters, a function of its key only, so a reloaded key yields the same issuer name
/// and key identifier as the stored certificate. The name carries a fingerprint of the key so two
/// sims' CAs are told apart by name (a client trusting one gets `UnknownIssuer` from the other).
fn ca_params(key: &KeyPair) -> CertificateParams {
    let mut p = CertificateParams::default();
    let spki = key.subject_public_key_info();
    let tag: String = spki[spki.len().saturating_sub(6)..]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("failback-sim local CA {tag}"));
    dn.push(DnType::OrganizationName, "failback-sim");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut p, 3650);
    p
}

/// From yesterday (clock skew) to `days` from now, on the real clock.
fn set_validity(p: &mut CertificateParams, days: i64) {
    use chrono::Datelike;
    let now = chrono::Utc::now();
    let from = now - chrono::Duration::days(1);
    let to = now + chrono::Duration::days(days);
    p.not_before = rcgen::date_time_ymd(from.year(), from.month() as u8, from.day() as u8);
    p.not_after = rcgen::date_time_ymd(to.year(), to.month() as u8, to.day() as u8);
}

struct Ca {
    cert_pem: String,
    key: KeyPair,
}

fn new_ca() -> Result<Ca, String> {
    let key = KeyPair::generate().map_err(|e| err("CA key", e))?;
    let cert = ca_params(&key)
        .self_signed(&key)
        .map_err(|e| err("CA certificate", e))?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key,
    })
}

fn load_or_create_ca(state_file: Option<&Path>) -> Result<(Ca, Option<PathBuf>), String> {
    let Some(state_file) = state_file else {
        return Ok((new_ca()?, None));
    };
    let (cert_path, key_path) = ca_paths(state_file);
    if cert_path.exists() && key_path.exists() {
        let cert_pem = std::fs::read_to_string(&cert_path)
            .map_err(|e| err(&format!("read {}", cert_path.display()), e))?;
        let key_pem = std::fs::read_to_string(&key_path)
            .map_err(|e| err(&format!("read {}", key_path.display()), e))?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| err(&format!("parse {}", key_path.display()), e))?;
        if !cert_has_key(&cert_pem, &key)? {
            return Err(format!(
                "tls: {} does not belong to {}",
                cert_path.display(),
                key_path.display()
            ));
        }
        return Ok((Ca { cert_pem, key }, Some(cert_path)));
    }
    let ca = new_ca()?;
    write_private(&key_path, ca.key.serialize_pem().as_bytes())
        .map_err(|e| err(&format!("write {}", key_path.display()), e))?;
    crate::persist::write_atomic(&cert_path, ca.cert_pem.as_bytes())
        .map_err(|e| err(&format!("write {}", cert_path.display()), e))?;
    Ok((ca, Some(cert_path)))
}

/// Whether `cert_pem` carries `key`'s public key (its SubjectPublicKeyInfo, verbatim).
fn cert_has_key(cert_pem: &str, key: &KeyPair) -> Result<bool, String> {
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| err("parse CA certificate", e))?;
    let spki = key.subject_public_key_info();
    Ok(!spki.is_empty() && der.as_ref().windows(spki.len()).any(|w| w == spki))
}

pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Build the TLS acceptor for a sim listening on `listen`.
pub fn setup(state_file: Option<&Path>, listen: IpAddr) -> Result<Tls, String> {
    let (ca, ca_file) = load_or_create_ca(state_file)?;
    let issuer = Issuer::new(ca_params(&ca.key), &ca.key);

    let leaf_key = KeyPair::generate().map_err(|e| err("server key", e))?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "failback-sim");
    p.distinguished_name = dn;
    let mut ips: Vec<IpAddr> = vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
    if !listen.is_unspecified() && !ips.contains(&listen) {
        ips.push(listen);
    }
    p.subject_alt_names = ips.into_iter().map(SanType::IpAddress).collect();
    p.subject_alt_names.push(SanType::DnsName(
        "localhost".try_into().map_err(|e| err("SAN", e))?,
    ));
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    set_validity(&mut p, 397);
    let leaf = p
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| err("server certificate", e))?;

    use rustls::pki_types::pem::PemObject;
    let ca_der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes())
        .map_err(|e| err("parse CA certificate", e))?;
    let chain = vec![leaf.der().clone(), ca_der];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| err("server certificate", e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(cfg)),
        ca_pem: ca.cert_pem,
        ca_file,
    })
}
