//! Trusted CA certificates for the HTTPS key sources: the system trust store
//! (`SSL_CERT_FILE`, `SSL_CERT_DIR`, the distribution's bundle), and Vault's own
//! (`VAULT_CACERT`, `VAULT_CAPATH`, …): reading PEM files and directories of them.
//!
//! Errors name the variable and the path, never the file's content (a misdirected
//! variable could point at a private key).

// Each network key source is its own cargo feature; a build with only some of them
// leaves parts of this shared client unused.
#![cfg_attr(
    not(all(feature = "aws", feature = "gcp", feature = "azure", feature = "vault")),
    allow(dead_code)
)]

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use ureq::tls::Certificate;
use ureq::tls::PemItem;

use crate::keys::KeyContext;

/// Largest CA file read (a full system bundle is well under 1 MiB).
const MAX_FILE: u64 = 8 * 1024 * 1024;
/// Most directory entries looked at in a CA directory.
const MAX_DIR_ENTRIES: usize = 10_000;

/// The CA bundles Go's `crypto/x509` (and so sops) looks for on Linux and the BSDs, in
/// its order; the first that exists is the system trust store.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// The trusted roots of the system, found as sops finds them: `SSL_CERT_FILE` (a PEM
/// bundle) and `SSL_CERT_DIR` (colon-separated directories of PEM files) when set,
/// else the first system bundle that exists. `None` when there is none, or the system
/// bundle holds no certificate: the Mozilla roots built into leafseal are used then.
/// A variable set to something unusable is an error naming it (no silent fallback).
pub(crate) fn system_roots(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Vec<Certificate<'static>>>, String> {
    let file = var("SSL_CERT_FILE").filter(|v| !v.is_empty());
    let dirs = var("SSL_CERT_DIR").filter(|v| !v.is_empty());
    if file.is_none() && dirs.is_none() {
        let found = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file());
        return Ok(found.and_then(|p| load_pem_file("system CA bundle", p).ok()));
    }
    let mut certs = Vec::new();
    if let Some(f) = file {
        certs.extend(load_pem_file("SSL_CERT_FILE", Path::new(&f))?);
    }
    if let Some(d) = dirs {
        for dir in d.split(':').filter(|d| !d.is_empty()) {
            certs.extend(load_pem_dir("SSL_CERT_DIR", Path::new(dir))?);
        }
    }
    Ok(Some(certs))
}

/// The system trust store of one run (see [`system_roots`]), read once per
/// [`KeyContext`]: `Ok(None)` means the built-in Mozilla roots.
pub(crate) struct SystemRoots(pub Result<Option<ureq::tls::RootCerts>, String>);

impl SystemRoots {
    /// The roots of this context (read on first use).
    pub fn get(ctx: &KeyContext) -> Arc<SystemRoots> {
        ctx.cached(|| {
            SystemRoots(
                system_roots(|n| ctx.var(n).map(str::to_owned))
                    .map(|r| r.map(ureq::tls::RootCerts::from)),
            )
        })
    }

    /// The error for an HTTPS request when the configured trust store is unusable.
    pub fn error(&self) -> Option<String> {
        self.0.as_ref().err().map(|e| unusable_roots(e))
    }
}

/// The error of an HTTPS call when a trust setting (`SSL_CERT_FILE`, `AWS_CA_BUNDLE`, …)
/// cannot be used; `why` names the variable and the path.
pub(crate) fn unusable_roots(why: &str) -> String {
    format!(
        "{}cannot use the trusted CA certificates: {why}; fix or unset the variable",
        super::TLS_PREFIX
    )
}

/// The certificates of the PEM file `path`, named by the variable `var` in errors.
/// Fails when the file is missing, unreadable, not PEM, or holds no certificate.
pub(crate) fn load_pem_file(var: &str, path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let shown = format!("{var}={}", path.display());
    let bytes = read_limited(path).map_err(|why| format!("{shown}: {why}"))?;
    let certs = parse_certs(&bytes).map_err(|why| format!("{shown}: {why}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{shown}: the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// The certificates of PEM text given directly in the variable `var`.
pub(crate) fn load_pem_bytes(var: &str, pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let certs = parse_certs(pem).map_err(|why| format!("{var}: {why}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{var} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// The certificates of every PEM file directly inside the directory `path` (hidden
/// files and subdirectories are skipped, symbolic links followed; files without a
/// certificate are ignored). Fails when the directory cannot be read, a file in it is
/// malformed PEM or unreadable, or no certificate at all is found.
pub(crate) fn load_pem_dir(var: &str, path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let shown = format!("{var}={}", path.display());
    let entries = std::fs::read_dir(path).map_err(|e| format!("{shown}: {}", io_why(&e)))?;
    let mut files = Vec::new();
    for entry in entries.take(MAX_DIR_ENTRIES) {
        let entry = entry.map_err(|e| format!("{shown}: {}", io_why(&e)))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let p = entry.path();
        // `metadata` follows symbolic links (c_rehash-style directories are links).
        if std::fs::metadata(&p).is_ok_and(|m| m.is_file()) {
            files.push(p);
        }
    }
    files.sort();
    let mut certs = Vec::new();
    for file in &files {
        let bytes =
            read_limited(file).map_err(|why| format!("{shown}: {}: {why}", file.display()))?;
        let found =
            parse_certs(&bytes).map_err(|why| format!("{shown}: {}: {why}", file.display()))?;
        certs.extend(found);
    }
    if certs.is_empty() {
        return Err(format!(
            "{shown}: no file in the directory holds a PEM certificate \
             (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// Reads a regular file of at most [`MAX_FILE`] bytes.
fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| io_why(&e))?;
    if meta.is_dir() {
        return Err("is a directory, not a PEM file".to_owned());
    }
    let file = std::fs::File::open(path).map_err(|e| io_why(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_why(&e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(format!("the file is larger than {MAX_FILE} bytes"));
    }
    Ok(bytes)
}

fn io_why(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::NotADirectory => "not a directory".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a directory, not a PEM file".to_owned(),
        kind => format!("cannot be read ({kind})"),
    }
}

/// The certificates of PEM text (other sections, e.g. keys, are ignored). A section
/// that is not well-formed PEM, or a certificate that is not a DER `SEQUENCE`, is an
/// error (without quoting the text).
fn parse_certs(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let mut out = Vec::new();
    for (i, item) in ureq::tls::parse_pem(pem).enumerate() {
        match item {
            Ok(PemItem::Certificate(c)) => {
                if !der_sequence(c.der()) {
                    return Err(format!(
                        "PEM section {} is not a valid X.509 certificate",
                        i + 1
                    ));
                }
                out.push(c);
            }
            Ok(_) => {}
            Err(_) => return Err("the file is not valid PEM".to_owned()),
        }
    }
    Ok(out)
}

/// Whether `der` is exactly one DER `SEQUENCE` whose first element is a `SEQUENCE`
/// (the shape of an X.509 certificate; the TLS library checks the rest).
fn der_sequence(der: &[u8]) -> bool {
    fn header(b: &[u8]) -> Option<(u8, usize, usize)> {
        let tag = *b.first()?;
        let first = *b.get(1)?;
        if first < 0x80 {
            return Some((tag, 2, usize::from(first)));
        }
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for k in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + k)?);
        }
        Some((tag, 2 + n, len))
    }
    let Some((tag, head, len)) = header(der) else {
        return false;
    };
    if tag != 0x30 || head.checked_add(len) != Some(der.len()) {
        return false;
    }
    let inner = der.get(head..).unwrap_or(&[]);
    matches!(header(inner), Some((0x30, h, l)) if h.checked_add(l).is_some_and(|e| e <= inner.len()))
}

/// A self-signed test CA (P-256, `CN=leafseal test ca`) that signed nothing.
#[cfg(test)]
pub(crate) const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBijCCATGgAwIBAgIUQyxqPjTdvysVPuBQBGHv4ed2DJcwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQbGVhZnNlYWwgdGVzdCBjYTAeFw0yNjExMjIwNTQ1MzlaFw0z
NjExMTkwNTQ1MzlaMBsxGTAXBgNVBAMMEGxlYWZzZWFsIHRlc3QgY2EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAQToi/rXgxrJeCj39WVuoI0mUxDlooVoQNCDV5v
ucyO1Wis4025n0MsfIxUQpvKgJGOsdi3Dskr3dV5AlYHGU0fo1MwUTAdBgNVHQ4E
FgQU4evONIBlYxbqLp8ack4en+A2uQgwHwYDVR0jBBgwFoAU4evONIBlYxbqLp8a
ck4en+A2uQgwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBtwLYv
MVIDbWXBGlsYG+ZG2QyyEa0DHi+CBcy6uUdT2gIgZ5VBhxcG1VGmFTrCUrx6teR1
++etgz1DI4xcccXWDf8=
-----END CERTIFICATE-----
";

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = TEST_CA_PEM;

    fn write(dir: &Path, name: &str, body: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn system_roots_follow_the_ssl_variables_and_the_system_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let ca = write(dir.path(), "ca.pem", CERT.as_bytes());
        let vars = |pairs: Vec<(&'static str, String)>| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone())
        };
        let one = system_roots(vars(vec![("SSL_CERT_FILE", ca.display().to_string())]));
        assert_eq!(one.unwrap().map(|c| c.len()), Some(1));
        let both = system_roots(vars(vec![
            ("SSL_CERT_FILE", ca.display().to_string()),
            ("SSL_CERT_DIR", format!("{}:", dir.path().display())),
        ]));
        assert_eq!(both.unwrap().map(|c| c.len()), Some(2));
        let e =
            system_roots(vars(vec![("SSL_CERT_FILE", "/nonexistent/x.pem".into())])).unwrap_err();
        assert!(e.starts_with("SSL_CERT_FILE=/nonexistent/x.pem"), "{e}");
        let junk = write(dir.path(), "junk.pem", b"not a certificate");
        let e =
            system_roots(vars(vec![("SSL_CERT_FILE", junk.display().to_string())])).unwrap_err();
        assert!(e.contains("SSL_CERT_FILE="), "{e}");
        // Neither set: the distribution's bundle when there is one, else the built-in roots.
        let sys = system_roots(vars(vec![])).unwrap();
        let bundle = SYSTEM_BUNDLES.iter().any(|p| Path::new(p).is_file());
        assert_eq!(sys.is_some_and(|c| !c.is_empty()), bundle);
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        let two = write(
            dir.path(),
            "two.pem",
            format!("junk\n{CERT}\n{CERT}").as_bytes(),
        );
        assert_eq!(load_pem_file("V", &two).unwrap().len(), 2);

        let missing = dir.path().join("nope.pem");
        let e = load_pem_file("VAULT_CACERT", &missing).unwrap_err();
        assert!(
            e.starts_with("VAULT_CACERT=") && e.contains("nope.pem") && e.contains("no such"),
            "{e}"
        );

        let text = write(dir.path(), "t.txt", b"not a certificate at all\n");
        let e = load_pem_file("VAULT_CACERT", &text).unwrap_err();
        assert!(
            e.contains("t.txt") && e.contains("no PEM certificate"),
            "{e}"
        );

        let bin = write(dir.path(), "b.der", &[0x30, 0x82, 0xff, 0x00, 0xfe, 0x80]);
        assert!(load_pem_file("V", &bin).is_err());

        let cut = write(dir.path(), "cut.pem", &CERT.as_bytes()[..200]);
        let e = load_pem_file("V", &cut).unwrap_err();
        assert!(e.contains("not valid PEM") && !e.contains("MII"), "{e}");

        let bad_b64 = write(
            dir.path(),
            "b64.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        );
        assert!(
            load_pem_file("V", &bad_b64)
                .unwrap_err()
                .contains("not valid PEM")
        );

        let not_x509 = write(
            dir.path(),
            "n.pem",
            b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
        );
        let e = load_pem_file("V", &not_x509).unwrap_err();
        assert!(e.contains("not a valid X.509"), "{e}");

        let e = load_pem_file("V", dir.path()).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");

        assert_eq!(load_pem_bytes("V", CERT.as_bytes()).unwrap().len(), 1);
        assert!(
            load_pem_bytes("V", b"x")
                .unwrap_err()
                .starts_with("V holds no")
        );
    }

    #[test]
    fn directories() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_pem_dir("VAULT_CAPATH", dir.path()).unwrap_err();
        assert!(
            e.starts_with("VAULT_CAPATH=") && e.contains("no file"),
            "{e}"
        );
        write(dir.path(), "README", b"certificates live here\n");
        write(dir.path(), "a.pem", CERT.as_bytes());
        write(dir.path(), ".hidden.pem", b"-----BEGIN CERTIFICATE-----\n");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        write(&dir.path().join("sub"), "b.pem", CERT.as_bytes());
        assert_eq!(load_pem_dir("V", dir.path()).unwrap().len(), 1);
        write(dir.path(), "z.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n");
        let e = load_pem_dir("V", dir.path()).unwrap_err();
        assert!(e.contains("z.pem") && e.contains("not valid PEM"), "{e}");
        let e = load_pem_dir("VAULT_CAPATH", &dir.path().join("missing")).unwrap_err();
        assert!(e.contains("missing") && e.contains("no such"), "{e}");
        let e = load_pem_dir("VAULT_CAPATH", &dir.path().join("a.pem")).unwrap_err();
        assert!(e.contains("not a directory"), "{e}");
    }

    #[test]
    fn der_shapes() {
        assert!(der_sequence(&[0x30, 0x02, 0x30, 0x00]));
        assert!(!der_sequence(&[0x30, 0x03, 0x30, 0x00]));
        assert!(!der_sequence(&[0x31, 0x02, 0x30, 0x00]));
        assert!(!der_sequence(&[0x30, 0x02, 0x02, 0x00]));
        assert!(!der_sequence(&[0x30, 0x80]));
        assert!(!der_sequence(&[]));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = der_sequence(&b);
            let _ = parse_certs(&b);
            let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
            pem.extend_from_slice(&b);
            let _ = parse_certs(&pem);
        }
    }
}
