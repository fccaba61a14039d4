//! Where calls go: a KMS endpoint URL, FIPS endpoints, and a CA bundle.

use super::*;

#[test]
fn aws_endpoint_url_kms() {
    let moto = Moto::start();
    let arn = moto.create_key();
    let (home, work) = dirs();
    let mut v = vars(home.path(), Some(&moto.url));
    // The service-specific variable wins over AWS_ENDPOINT_URL (a closed port here).
    v.insert(
        "AWS_ENDPOINT_URL".to_owned(),
        "http://127.0.0.1:9".to_owned(),
    );
    set(
        &mut v,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDEP"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    round_trip(&v, work.path(), &arn, &[]);
    // Without it, AWS_ENDPOINT_URL is used, and the failure names the endpoint.
    v.remove("AWS_ENDPOINT_URL_KMS");
    v.insert("AWS_MAX_ATTEMPTS".to_owned(), "1".to_owned());
    let out = support::run_in(&v, work.path(), &["decrypt", "s.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );
}

/// FIPS endpoints, observed without leaving the machine: HTTPS_PROXY points at a
/// loopback server that records the CONNECT target and refuses it.
#[test]
fn aws_fips_endpoint() {
    let proxy = Server::start(|_| (403, String::new()));
    let (home, work) = dirs();
    std::fs::write(work.path().join("s.yaml"), PLAIN).expect("write");
    let mut v = vars(home.path(), None);
    set(
        &mut v,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDFIPS"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("HTTPS_PROXY", proxy.url.as_str()),
        ],
    );
    let arn = "arn:aws:kms:us-west-2:123456789012:key/00000000-0000-0000-0000-000000000000";
    let connect_target = |v: &HashMap<String, String>| {
        let before = proxy.seen().len();
        let out = support::run_in(v, work.path(), &["encrypt", "--kms", arn, "s.yaml"]);
        assert_ne!(out.status.code(), Some(0));
        assert_clean(&stderr(&out));
        let seen = proxy.seen();
        assert!(
            seen.len() > before,
            "no request reached the proxy: {}",
            stderr(&out)
        );
        seen[before].line().to_owned()
    };
    assert!(
        connect_target(&v).starts_with("CONNECT kms.us-west-2.amazonaws.com:443 "),
        "{:?}",
        proxy.seen()
    );
    let mut fips = v.clone();
    fips.insert("AWS_USE_FIPS_ENDPOINT".to_owned(), "true".to_owned());
    let line = connect_target(&fips);
    assert!(
        line.starts_with("CONNECT kms-fips.us-west-2.amazonaws.com:443 "),
        "{line}"
    );
    // The same from the config file's use_fips_endpoint.
    write_aws(
        home.path(),
        "config",
        "[default]\nuse_fips_endpoint = true\n",
    );
    let line = connect_target(&v);
    assert!(
        line.starts_with("CONNECT kms-fips.us-west-2.amazonaws.com:443 "),
        "{line}"
    );
}

/// `ca_bundle` in the config file (and AWS_CA_BUNDLE, which wins) make a private CA
/// trusted for KMS calls. The HTTPS server is OpenBao's dev TLS listener: it is no KMS,
/// so a trusted handshake shows as an HTTP error from it, an untrusted one as TLS.
#[test]
fn aws_ca_bundle() {
    let server = bao::Bao::start_tls();
    let ca = server.ca.clone().expect("CA file");
    let ca = ca.to_str().expect("utf-8").to_owned();
    let (home, work) = dirs();
    std::fs::write(work.path().join("s.yaml"), PLAIN).expect("write");
    let mut v = vars(home.path(), Some(&server.url));
    set(
        &mut v,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDCA"),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    let arn = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000";
    let encrypt = ["encrypt", "--kms", arn, "s.yaml"];
    let out = support::run_in(&v, work.path(), &encrypt);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));

    write_aws(
        home.path(),
        "config",
        &format!("[default]\nca_bundle = {ca}\n"),
    );
    let out = support::run_in(&v, work.path(), &encrypt);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(!err.contains("TLS") && err.contains("HTTP"), "{err}");
    assert_clean(&err);

    // AWS_CA_BUNDLE wins over the config file.
    v.insert(
        "AWS_CA_BUNDLE".to_owned(),
        "/nonexistent/bundle.pem".to_owned(),
    );
    let out = support::run_in(&v, work.path(), &encrypt);
    assert!(
        stderr(&out).contains("AWS_CA_BUNDLE=/nonexistent/bundle.pem"),
        "{}",
        stderr(&out)
    );
}
