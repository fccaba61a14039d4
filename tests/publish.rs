//! `publish` through the CLI: the `destination_rules` of `.sops.yaml` against a real
//! moto S3 (uploaded bytes read back), a real OpenBao KV v1 and v2 (decrypted values read
//! back), and a loopback server speaking the GCS JSON upload API (method, path, query and
//! token checked, object stored); recursive publishing with omitted extensions; a
//! recreation rule re-encrypting for another age key (the object opens with that key
//! only, with leafseal and with the real sops); the confirmation question.

#[path = "../src/keys/hcvault/bao.rs"]
#[allow(dead_code)]
mod bao;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/sops.rs"]
mod sops;
mod support;
#[path = "../src/keys/testhttp.rs"]
#[allow(dead_code)]
mod testhttp;

/// What `testhttp` needs from the crate's `rest` module (the real names).
mod rest {
    pub const RETRY_DELAY_VAR: &str = "LEAFSEAL_HTTP_RETRY_DELAY_MS";
    pub const TIMEOUT_VAR: &str = "LEAFSEAL_HTTP_TIMEOUT_SECS";
}

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Output;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;

use support::*;
use testhttp::Resp;

const BUCKET: &str = "leafseal-publish";
const GCS_TOKEN: &str = "ya29.publish-token-never-printed";

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs leafseal in `dir` with `stdin` as its standard input.
fn run_stdin(vars: &HashMap<String, String>, dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut c = leafseal(vars);
    c.current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn leafseal");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// A work dir with `plain` files encrypted for the test age key.
fn encrypted(vars: &HashMap<String, String>, dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        ok(&run_in(
            vars,
            dir,
            &["encrypt", "-i", "--age", AGE_RECIPIENT, name],
        ));
    }
}

fn get_object(m: &moto::Moto, key: &str) -> Option<Vec<u8>> {
    // moto answers 403 to an anonymous GetObject: any signature-shaped header will do
    // (it does not check signatures).
    let mut resp = moto::agent()
        .get(format!("{}/{BUCKET}/{key}", m.url))
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDLEAFSEALTEST/20240101/us-east-1/s3/aws4_request, \
             SignedHeaders=host, Signature=00",
        )
        .call()
        .ok()?;
    resp.body_mut().read_to_vec().ok()
}

#[test]
fn s3_upload_recursive_recreation_rule_and_confirmation() {
    let m = moto::Moto::start();
    moto::agent()
        .put(format!("{}/{BUCKET}", m.url))
        .send_empty()
        .expect("create bucket");
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let mut vars = env_vars(None, home.path());
    vars.insert("AWS_ACCESS_KEY_ID".into(), "AKIDLEAFSEALTEST".into());
    vars.insert(
        "AWS_SECRET_ACCESS_KEY".into(),
        "publish-secret-key-xyz".into(),
    );
    vars.insert("AWS_REGION".into(), "us-east-1".into());
    vars.insert("AWS_ENDPOINT_URL_S3".into(), m.url.clone());
    vars.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    vars.insert("LEAFSEAL_AWS_RETRY_DELAY_MS".into(), "10".into());

    // A second age identity, for the recreation rule.
    let other_key = work.path().join("other.txt");
    let kg = run_in(
        &vars,
        work.path(),
        &[
            "keygen",
            "-o",
            other_key.to_str().expect("utf8"),
            "--format",
            "json",
        ],
    );
    ok(&kg);
    let kg: serde_json::Value = serde_json::from_slice(&kg.stdout).expect("keygen json");
    let other = kg["recipient"].as_str().expect("recipient").to_owned();

    encrypted(
        &vars,
        work.path(),
        &[
            ("plain/app.yaml", "db: s3-secret\n"),
            ("tree/a/one.yaml", "one: 1\n"),
            ("tree/b/two.json", "{\"two\": \"2\"}\n"),
            ("re/app.yaml", "token: re-encrypted\nport: 5432\n"),
        ],
    );
    std::fs::write(
        work.path().join(".sops.yaml"),
        format!(
            "destination_rules:\n  - path_regex: '^plain/'\n    s3_bucket: {BUCKET}\n    s3_prefix: 'as-is/'\n  - path_regex: '^tree/'\n    s3_bucket: {BUCKET}\n    s3_prefix: 'tree/'\n    omit_extensions: true\n  - path_regex: '^re/'\n    s3_bucket: {BUCKET}\n    s3_prefix: 're/'\n    recreation_rule:\n      age: {other}\n"
        ),
    )
    .expect("policy");

    // Without -y and with no answer on standard input: refused, nothing uploaded.
    let out = run_in(&vars, work.path(), &["publish", "plain/app.yaml"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("uploading ") && e.contains("s3://leafseal-publish/as-is/app.yaml ? (y/n)"),
        "{e}"
    );
    assert!(e.contains("-y"), "{e}");
    assert_eq!(get_object(&m, "as-is/app.yaml"), None);
    // Answered "n": canceled, exit 1, nothing uploaded.
    let out = run_stdin(
        &vars,
        work.path(),
        &["publish", "plain/app.yaml"],
        b"maybe\nn\n",
    );
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("canceled"), "{e}");
    assert_eq!(get_object(&m, "as-is/app.yaml"), None);
    // Answered "y": the encrypted file is uploaded byte for byte.
    let out = run_stdin(&vars, work.path(), &["publish", "plain/app.yaml"], b"y\n");
    ok(&out);
    let file = std::fs::read(work.path().join("plain/app.yaml")).expect("read");
    assert_eq!(get_object(&m, "as-is/app.yaml").as_deref(), Some(&file[..]));

    // --recursive with questions: "n" skips that file and the run goes on, as in sops.
    let out = run_stdin(
        &vars,
        work.path(),
        &["publish", "--recursive", "tree"],
        b"n\ny\n",
    );
    let e = ok(&out);
    assert!(e.contains("publication of tree/a/one.yaml canceled"), "{e}");
    assert_eq!(get_object(&m, "tree/a/one"), None);
    assert!(get_object(&m, "tree/b/two").is_some());

    // --recursive: every file, named by its path below the directory, extensions
    // dropped by the rule.
    ok(&run_in(
        &vars,
        work.path(),
        &["publish", "-y", "--recursive", "tree"],
    ));
    for (key, path) in [
        ("tree/a/one", "tree/a/one.yaml"),
        ("tree/b/two", "tree/b/two.json"),
    ] {
        let file = std::fs::read(work.path().join(path)).expect("read");
        assert_eq!(get_object(&m, key).as_deref(), Some(&file[..]), "{key}");
    }
    // A directory without --recursive is refused.
    let out = run_in(&vars, work.path(), &["publish", "-y", "tree"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--recursive"));
    // --omit-extensions on the command line.
    ok(&run_in(
        &vars,
        work.path(),
        &["publish", "-y", "--omit-extensions", "plain/app.yaml"],
    ));
    assert_eq!(get_object(&m, "as-is/app.yaml").as_deref(), Some(&file[..]));
    assert!(get_object(&m, "as-is/app").is_some());

    // The recreation rule: the object is encrypted for the other key only.
    let e = ok(&run_in(
        &vars,
        work.path(),
        &["publish", "-y", "re/app.yaml"],
    ));
    assert!(e.contains(&format!("+ age {other}")), "{e}");
    let obj = get_object(&m, "re/app.yaml").expect("re-encrypted object");
    let text = String::from_utf8_lossy(&obj).into_owned();
    assert!(
        text.contains(&other) && !text.contains(AGE_RECIPIENT),
        "{text}"
    );
    assert!(!text.contains("re-encrypted"), "{text}");
    let objfile = work.path().join("object.yaml");
    std::fs::write(&objfile, &obj).expect("write");
    let mut with_other = vars.clone();
    with_other.insert("SOPS_AGE_KEY_FILE".into(), other_key.display().to_string());
    let out = run_in(&with_other, work.path(), &["decrypt", "object.yaml"]);
    ok(&out);
    assert_eq!(out.stdout, b"token: re-encrypted\nport: 5432\n");
    let out = run_in(&vars, work.path(), &["decrypt", "object.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    // The real sops opens the re-encrypted object with the other key.
    if let Some(sops) = sops::sops_bin() {
        let out = std::process::Command::new(sops)
            .env_clear()
            .env("HOME", home.path())
            .env("SOPS_AGE_KEY_FILE", &other_key)
            .args(["decrypt"])
            .arg(&objfile)
            .output()
            .expect("run sops");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, b"token: re-encrypted\nport: 5432\n");
    }

    // No matching rule, or a plaintext file: refused.
    std::fs::write(work.path().join("loose.yaml"), "a: 1\n").expect("write");
    let out = run_in(&vars, work.path(), &["publish", "-y", "loose.yaml"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("no destination rule"), "{e}");
    std::fs::write(work.path().join("plain/clear.yaml"), "a: 1\n").expect("write");
    let out = run_in(&vars, work.path(), &["publish", "-y", "plain/clear.yaml"]);
    assert!(!out.status.success());
    assert_eq!(get_object(&m, "as-is/clear.yaml"), None);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("publish-secret-key-xyz"));
}

/// A GCS JSON-API server: checks a media upload and keeps the object.
fn gcs(
    objects: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    token: Option<&'static str>,
) -> testhttp::Server {
    testhttp::Server::start(move |req| {
        let auth = req.header("authorization").map(str::to_owned);
        let want = token.map(|t| format!("Bearer {t}"));
        if auth != want {
            return Resp::json(
                401,
                serde_json::json!({"error": {"code": 401, "message": "Invalid Credentials"}}),
            );
        }
        let q = req.query();
        if req.method != "POST"
            || req.path() != format!("/upload/storage/v1/b/{BUCKET}/o")
            || q.get("uploadType").map(String::as_str) != Some("media")
        {
            return Resp::json(
                404,
                serde_json::json!({"error": {"code": 404, "message": "Not Found"}}),
            );
        }
        let Some(name) = q.get("name") else {
            return Resp::json(
                400,
                serde_json::json!({"error": {"code": 400, "message": "Required parameter: name"}}),
            );
        };
        if let Ok(mut o) = objects.lock() {
            o.insert(name.clone(), req.body.clone());
        }
        Resp::json(
            200,
            serde_json::json!({"kind": "storage#object", "bucket": BUCKET, "name": name, "size": req.body.len().to_string()}),
        )
    })
}

#[test]
fn gcs_upload_with_token_and_with_the_emulator_variable() {
    let objects = Arc::new(Mutex::new(HashMap::new()));
    let server = gcs(Arc::clone(&objects), Some(GCS_TOKEN));
    let emulator = gcs(Arc::clone(&objects), None);
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let mut vars = env_vars(None, home.path());
    vars.insert(rest::RETRY_DELAY_VAR.into(), "1".into());
    encrypted(&vars, work.path(), &[("g/app.env", "A=gcs\n")]);
    std::fs::write(
        work.path().join(".sops.yaml"),
        format!("destination_rules:\n  - path_regex: ''\n    gcs_bucket: {BUCKET}\n    gcs_prefix: 'dir/'\n"),
    )
    .expect("policy");
    let file = std::fs::read(work.path().join("g/app.env")).expect("read");

    let mut with_token = vars.clone();
    with_token.insert("LEAFSEAL_GCS_ENDPOINT".into(), server.url());
    with_token.insert("GOOGLE_OAUTH_ACCESS_TOKEN".into(), GCS_TOKEN.into());
    let e = ok(&run_in(
        &with_token,
        work.path(),
        &["publish", "-y", "g/app.env"],
    ));
    assert!(e.contains("gcs://leafseal-publish/dir/app.env"), "{e}");
    assert_eq!(
        objects.lock().expect("lock").get("dir/app.env"),
        Some(&file)
    );
    assert!(!e.contains(GCS_TOKEN));

    // A rejected token: exit 1, the status and a hint, no token shown.
    let mut bad = with_token.clone();
    bad.insert("GOOGLE_OAUTH_ACCESS_TOKEN".into(), "ya29.wrong".into());
    let out = run_in(
        &bad,
        work.path(),
        &["publish", "-y", "--omit-extensions", "g/app.env"],
    );
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("401") && !e.contains("ya29.wrong"), "{e}");
    assert!(!objects.lock().expect("lock").contains_key("dir/app"));

    // A duplicate type in the decryption order: sops's exit 112, before anything else.
    let out = run_in(
        &with_token,
        work.path(),
        &[
            "publish",
            "-y",
            "--decryption-order",
            "age,age",
            "g/app.env",
        ],
    );
    assert_eq!(out.status.code(), Some(112));

    // STORAGE_EMULATOR_HOST (host:port): no token is sent, as Google's clients do.
    let mut emu = vars.clone();
    emu.insert(
        "STORAGE_EMULATOR_HOST".into(),
        emulator.url().trim_start_matches("http://").to_owned(),
    );
    ok(&run_in(
        &emu,
        work.path(),
        &["publish", "-y", "--omit-extensions", "g/app.env"],
    ));
    assert_eq!(objects.lock().expect("lock").get("dir/app"), Some(&file));
}

fn bao_call(
    b: &bao::Bao,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let agent = moto::agent();
    let url = format!("{}/v1/{path}", b.url);
    let resp = match (method, body) {
        ("GET", _) => agent.get(&url).header("X-Vault-Token", "root").call(),
        (_, Some(v)) => agent
            .post(&url)
            .header("X-Vault-Token", "root")
            .send(v.to_string()),
        _ => agent
            .post(&url)
            .header("X-Vault-Token", "root")
            .send_empty(),
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let text = resp.body_mut().read_to_string().expect("body");
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

#[test]
fn vault_kv_v1_and_v2_get_the_decrypted_data() {
    let b = bao::Bao::start();
    bao_call(
        &b,
        "POST",
        "sys/mounts/kv1",
        Some(serde_json::json!({"type": "kv", "options": {"version": "1"}})),
    );
    bao_call(
        &b,
        "POST",
        "sys/mounts/kv2",
        Some(serde_json::json!({"type": "kv", "options": {"version": "2"}})),
    );
    let home = tempfile::tempdir().expect("home");
    let work = tempfile::tempdir().expect("work");
    let mut vars = env_vars(None, home.path());
    vars.insert("VAULT_TOKEN".into(), "root".into());
    vars.insert(rest::RETRY_DELAY_VAR.into(), "10".into());
    encrypted(
        &vars,
        work.path(),
        &[
            ("v1/app.yaml", "user: admin\npassword: kv1-secret\n"),
            (
                "v2/db.yaml",
                "password: kv2-secret\nport: 5432\ntls: true\nhosts:\n  - a\n  - b\n",
            ),
        ],
    );
    std::fs::write(
        work.path().join(".sops.yaml"),
        format!(
            "destination_rules:\n  - path_regex: '^v1/'\n    vault_address: {url}\n    vault_path: myapp\n    vault_kv_mount_name: kv1\n    vault_kv_version: 1\n    omit_extensions: true\n  - path_regex: '^v2/'\n    vault_address: {url}\n    vault_path: team/myapp/\n    vault_kv_mount_name: kv2/\n",
            url = b.url
        ),
    )
    .expect("policy");

    let e = ok(&run_in(
        &vars,
        work.path(),
        &["publish", "-y", "v1/app.yaml"],
    ));
    assert!(e.contains(&format!("{}/v1/kv1/myapp/app", b.url)), "{e}");
    let v = bao_call(&b, "GET", "kv1/myapp/app", None);
    assert_eq!(
        v["data"],
        serde_json::json!({"user": "admin", "password": "kv1-secret"})
    );

    ok(&run_in(
        &vars,
        work.path(),
        &["publish", "-y", "v2/db.yaml"],
    ));
    let v = bao_call(&b, "GET", "kv2/data/team/myapp/db.yaml", None);
    assert_eq!(
        v["data"]["data"],
        serde_json::json!({"password": "kv2-secret", "port": 5432, "tls": true, "hosts": ["a", "b"]})
    );
    assert_eq!(v["data"]["metadata"]["version"], 1);
    // Publishing the same data again writes no new version.
    let e = ok(&run_in(
        &vars,
        work.path(),
        &["publish", "-y", "v2/db.yaml"],
    ));
    assert!(e.contains("already up to date"), "{e}");
    let v = bao_call(&b, "GET", "kv2/data/team/myapp/db.yaml", None);
    assert_eq!(v["data"]["metadata"]["version"], 1);

    // A wrong token: exit 1, a clear message, no token and no value in it.
    let mut wrong = vars.clone();
    wrong.insert("VAULT_TOKEN".into(), "not-the-token".into());
    let out = run_in(&wrong, work.path(), &["publish", "-y", "v1/app.yaml"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(
        e.contains("403") && !e.contains("not-the-token") && !e.contains("kv1-secret"),
        "{e}"
    );
}
