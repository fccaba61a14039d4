//! Round 22 sweep: no plaintext value, comment or key material in any message.
//!
//! Every secret this file plants contains the marker [`MARK`] (values, comments, list
//! items, multi-line scalars, `set` values and `--value-file` contents, template text,
//! an age identity file, `SOPS_AGE_KEY`, an SSH private key, a key command's output,
//! cloud credentials). Each command is driven into a failure path, and neither its
//! stdout nor its stderr may contain the marker; a failing run prints nothing on stdout (reports: `doctor`, `textconv`, excepted).
//! The key-service cases also check that the data key a service was sent (read from
//! the request the loopback server recorded) is not echoed back to the terminal.

#[path = "support/loopback.rs"]
mod loopback;
mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Output;
use std::process::Stdio;

use loopback::Server;
use support::AGE_RECIPIENT;
use support::env_vars;
use support::leafseal;

/// Part of every planted secret (compared case-insensitively).
const MARK: &str = "c4naryv4lue9x";

/// A plaintext YAML file with a marked value of every kind, and marked comments.
const PLAIN_YAML: &str = "\
# top comment C4NARYv4lue9X-comment-top
db:
  password: C4NARYv4lue9X-value-db # trailing C4NARYv4lue9X-comment-trail
  nested:
    deep: C4NARYv4lue9X-value-deep
list:
  - C4NARYv4lue9X-value-item
  - 42
multi: |
  C4NARYv4lue9X-value-multi
  second line
flag: true
";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails when `out` shows the marker on stdout or stderr (reports such as `doctor` and
/// `textconv` print on stdout whether or not they succeed).
fn assert_no_mark(what: &str, out: &Output) {
    let err = stderr(out);
    let std_out = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !err.to_ascii_lowercase().contains(MARK),
        "{what}: a secret is in stderr:\n{err}"
    );
    assert!(
        !std_out.to_ascii_lowercase().contains(MARK),
        "{what}: a secret is in stdout:\n{std_out}"
    );
}

/// Runs leafseal in `dir` with `vars`, feeding `stdin`.
fn run_with(vars: &HashMap<String, String>, dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = leafseal(vars)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn leafseal");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    child.wait_with_output().expect("wait for leafseal")
}

/// Runs leafseal, expects a failure and no secret in its output.
fn fails_clean(vars: &HashMap<String, String>, dir: &Path, args: &[&str]) -> Output {
    fails_clean_with(vars, dir, args, b"")
}

fn fails_clean_with(
    vars: &HashMap<String, String>,
    dir: &Path,
    args: &[&str],
    stdin: &[u8],
) -> Output {
    let out = run_with(vars, dir, args, stdin);
    let what = args.join(" ");
    assert!(
        !out.status.success(),
        "{what}: expected a failure, got success:\n{}",
        stderr(&out)
    );
    assert_no_mark(&what, &out);
    assert!(
        out.stdout.is_empty(),
        "{what}: failed ({}) yet printed on stdout:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn write(dir: &Path, name: &str, content: &[u8]) {
    std::fs::write(dir.join(name), content).expect("write fixture");
}

/// Encrypts `plain` (named `name`) to the age test recipient; returns the file name.
fn encrypted(vars: &HashMap<String, String>, dir: &Path, name: &str, plain: &[u8]) -> String {
    let enc = format!("enc-{name}");
    write(dir, &enc, plain);
    let out = run_with(
        vars,
        dir,
        &["encrypt", "-i", "--age", AGE_RECIPIENT, &enc],
        b"",
    );
    assert!(out.status.success(), "encrypt {name}: {}", stderr(&out));
    enc
}

/// Writes an executable shell script `name` running `body`; returns its path.
fn script(dir: &Path, name: &str, body: &[u8]) -> String {
    let path = dir.join(name);
    let mut text = b"#!/bin/sh\n".to_vec();
    text.extend_from_slice(body);
    text.push(b'\n');
    std::fs::write(&path, text).expect("write script");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod script");
    path.display().to_string()
}

struct Scene {
    _home: tempfile::TempDir,
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

fn scene() -> Scene {
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let vars = env_vars(None, home.path());
    Scene {
        _home: home,
        dir,
        vars,
    }
}

#[test]
fn encrypt_of_malformed_plaintext_names_positions_not_values() {
    let s = scene();
    let d = s.dir.path();
    let cases: [(&str, &[u8], &[&str]); 17] = [
        (
            "a.yaml",
            b"a: C4NARYv4lue9X-y1\nb: [C4NARYv4lue9X-y2\n",
            &[],
        ),
        ("b.yaml", b"a: \"C4NARYv4lue9X-y3\\q\"\n", &[]),
        ("c.yaml", b"a: C4NARYv4lue9X-y4\na: C4NARYv4lue9X-y5\n", &[]),
        (
            "d.yaml",
            b"a: C4NARYv4lue9X-y6\n  b: C4NARYv4lue9X-y7\n",
            &[],
        ),
        ("e.yaml", b"a: C4NARYv4lue9X\xff\xfe-y8\n", &[]),
        ("f.yaml", b"a: &x C4NARYv4lue9X-y9\nb: *nope\n", &[]),
        ("g.yaml", b"- C4NARYv4lue9X-y10\n", &[]),
        (
            "a.json",
            b"{\"a\": \"C4NARYv4lue9X-j1\", \"b\": C4NARYv4lue9X}",
            &[],
        ),
        ("b.json", b"{\"a\": \"C4NARYv4lue9X-j2\\q\"}", &[]),
        ("c.json", b"{\"a\": \"C4NARYv4lue9X\xff-j3\"}", &[]),
        ("d.json", b"{\"a\": \"C4NARYv4lue9X-j4", &[]),
        ("a.env", b"A=C4NARYv4lue9X-e1\nC4NARYv4lue9X-e2\n", &[]),
        ("b.env", b"A=C4NARYv4lue9X\xff-e3\n", &[]),
        ("a.ini", b"[s]\na=C4NARYv4lue9X-i1\nC4NARYv4lue9X-i2\n", &[]),
        (
            "b.ini",
            b"[s]\na=C4NARYv4lue9X-i3\na=C4NARYv4lue9X-i4\n",
            &[],
        ),
        (
            "a.toml",
            b"a = \"C4NARYv4lue9X-t1\"\nb = C4NARYv4lue9X-t2\n",
            &["--input-type", "toml"],
        ),
        (
            "b.toml",
            b"a = \"C4NARYv4lue9X-t3\"\na = \"C4NARYv4lue9X-t4\"\n",
            &["--input-type", "toml"],
        ),
    ];
    for (name, content, extra) in cases {
        write(d, name, content);
        let mut args = vec!["encrypt", "--age", AGE_RECIPIENT];
        args.extend_from_slice(extra);
        args.push(name);
        fails_clean(&s.vars, d, &args);
        // The same bytes through the sops drop-in flags and through stdin.
        let mut args = vec!["-e", "--age", AGE_RECIPIENT];
        args.extend_from_slice(extra);
        args.push(name);
        fails_clean(&s.vars, d, &args);
    }
}

#[test]
fn decrypt_set_and_conversions_fail_without_values() {
    let s = scene();
    let d = s.dir.path();
    let f = encrypted(&s.vars, d, "s.yaml", PLAIN_YAML.as_bytes());
    let f = f.as_str();
    let nested = encrypted(
        &s.vars,
        d,
        "n.json",
        b"{\"a\":{\"b\":\"C4NARYv4lue9X-n1\"},\"c\":[1,{\"d\":\"C4NARYv4lue9X-n2\"}],\"z\":null}",
    );
    let n = nested.as_str();
    for args in [
        vec!["decrypt", "--output-type", "dotenv", f],
        vec!["decrypt", "--output-type", "ini", f],
        vec!["decrypt", "--output-type", "dotenv", n],
        vec!["decrypt", "--output-type", "ini", n],
        vec!["decrypt", "--output-type", "toml", n],
        vec!["decrypt", "--extract", "[\"db\"][\"nope\"]", f],
        vec!["decrypt", "--extract", "[\"db\"][\"password\"][\"x\"]", f],
        vec!["decrypt", "--extract", "[\"list\"][7]", f],
        vec!["decrypt", "--extract", "[\"db\"", f],
        vec![
            "decrypt",
            "--extract",
            "[\"db\"]",
            "--output-type",
            "dotenv",
            n,
        ],
        vec!["set", f, "[\"db\"][\"password\"]", "\"C4NARYv4lue9X-s1"],
        vec!["set", f, "[\"db\"][\"password\"]", "C4NARYv4lue9X-s2"],
        vec!["set", f, "[\"db\"][\"password\"]", "{\"a\": C4NARYv4lue9X}"],
        vec![
            "set",
            f,
            "[\"db\"][\"password\"]",
            "\"C4NARYv4lue9X-s3\\q\"",
        ],
        vec!["set", f, "[\"list\"][\"x\"]", "\"C4NARYv4lue9X-s4\""],
        vec!["set", f, "[\"sops\"]", "\"C4NARYv4lue9X-s5\""],
        vec!["set", f, "not a path", "\"C4NARYv4lue9X-s6\""],
        vec!["unset", f, "[\"db\"][\"nope\"]"],
        vec!["exec-env", n, "true"],
        vec!["exec-file", "--output-type", "dotenv", n, "true"],
    ] {
        fails_clean(&s.vars, d, &args);
    }
    write(d, "v1", b"\"C4NARYv4lue9X-vf1");
    write(d, "v2", b"C4NARYv4lue9X-vf2 is not JSON");
    write(d, "v3", b"\"C4NARYv4lue9X\xff-vf3\"");
    for v in ["v1", "v2", "v3"] {
        fails_clean(&s.vars, d, &["set", "--value-file", f, "[\"a\"]", v]);
    }
    fails_clean_with(
        &s.vars,
        d,
        &["set", "--value-stdin", f, "[\"a\"]"],
        b"C4NARYv4lue9X-stdin {",
    );
    let nul = encrypted(&s.vars, d, "nul.json", b"{\"A\":\"C4NARYv4lue9X\\u0000x\"}");
    fails_clean(&s.vars, d, &["exec-env", &nul, "true"]);
    // The file is unchanged by every failure above: it still decrypts.
    let out = run_with(&s.vars, d, &["decrypt", f], b"");
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn tampered_files_wrong_keys_and_key_sources_show_no_secret() {
    let s = scene();
    let d = s.dir.path();
    let f = encrypted(&s.vars, d, "s.yaml", PLAIN_YAML.as_bytes());
    let text = std::fs::read_to_string(d.join(&f)).expect("read");
    // A removed value (MAC mismatch) and an altered MAC.
    let removed: String = text
        .lines()
        .filter(|l| !l.starts_with("flag:"))
        .map(|l| format!("{l}\n"))
        .collect();
    write(d, "t1.yaml", removed.as_bytes());
    let altered = text.replacen(
        "mac: ENC[AES256_GCM,data:",
        "mac: ENC[AES256_GCM,data:AA",
        1,
    );
    write(d, "t2.yaml", altered.as_bytes());
    for t in ["t1.yaml", "t2.yaml"] {
        fails_clean(&s.vars, d, &["decrypt", t]);
        fails_clean(&s.vars, d, &["exec-env", t, "true"]);
        fails_clean(&s.vars, d, &["-d", t]);
        let out = run_with(&s.vars, d, &["git", "textconv", t], b"");
        assert_no_mark(&format!("textconv {t}"), &out);
    }

    // Key sources holding marked key material, none of which opens the file.
    write(
        d,
        "k1.txt",
        b"AGE-SECRET-KEY-1C4NARYV4LUE9XQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n",
    );
    write(d, "k2.txt", b"C4NARYv4lue9X-garbage-identity-line\n");
    write(
        d,
        "id_bad",
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nC4NARYv4lue9XsshAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    script(d, "cmd1.sh", b"echo C4NARYv4lue9X-cmd-output");
    script(
        d,
        "cmd2.sh",
        b"echo AGE-SECRET-KEY-1C4NARYV4LUE9X-cmd; exit 3",
    );
    let mut keyless = s.vars.clone();
    keyless.remove("SOPS_AGE_KEY_FILE");
    let dir = d.display().to_string();
    let sources: [(&str, String); 7] = [
        ("SOPS_AGE_KEY_FILE", format!("{dir}/k1.txt")),
        ("SOPS_AGE_KEY_FILE", format!("{dir}/k2.txt")),
        ("SOPS_AGE_KEY", "C4NARYv4lue9X-env-age-key".to_owned()),
        ("SOPS_AGE_KEY", "AGE-SECRET-KEY-1C4NARYV4LUE9X".to_owned()),
        ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", format!("{dir}/id_bad")),
        ("SOPS_AGE_KEY_CMD", format!("{dir}/cmd1.sh")),
        ("SOPS_AGE_KEY_CMD", format!("{dir}/cmd2.sh")),
    ];
    for (var, value) in sources {
        let mut vars = keyless.clone();
        vars.insert(var.to_owned(), value);
        fails_clean(&vars, d, &["decrypt", &f]);
        fails_clean(&vars, d, &["set", &f, "[\"db\"][\"password\"]", "\"x\""]);
        let out = run_with(&vars, d, &["doctor", &f], b"");
        assert_no_mark(&format!("doctor with {var}"), &out);
    }
}

#[test]
fn edit_with_a_breaking_editor_and_render_show_no_secret() {
    let s = scene();
    let d = s.dir.path();
    let f = encrypted(&s.vars, d, "s.yaml", PLAIN_YAML.as_bytes());
    let editors: [&[u8]; 5] = [
        b"printf 'a: C4NARYv4lue9X-ed1\\nb: [C4NARYv4lue9X-ed2\\n' > \"$1\"",
        b"printf 'a: C4NARYv4lue9X-ed3\\n\\377\\376\\n' > \"$1\"",
        b"printf 'a: C4NARYv4lue9X-ed4\\na: C4NARYv4lue9X-ed5\\n' > \"$1\"",
        b"printf 'sops: C4NARYv4lue9X-ed6\\n' > \"$1\"",
        b"exit 3",
    ];
    for (i, body) in editors.iter().enumerate() {
        let editor = script(d, &format!("editor{i}.sh"), body);
        let mut vars = s.vars.clone();
        vars.insert("EDITOR".to_owned(), editor);
        fails_clean(&vars, d, &["edit", &f]);
    }
    write(
        d,
        "t1.tmpl",
        b"C4NARYv4lue9X-tpl {{ [\"db\"][\"password\"] }} {{ [\"zz\"] }}\n",
    );
    write(d, "t2.tmpl", b"x {{ [\"db\"] }}\n");
    write(
        d,
        "t3.tmpl",
        b"x {{ [\"db\"][\"password\"] }} {{ [\"db\" \n",
    );
    for t in ["t1.tmpl", "t2.tmpl", "t3.tmpl"] {
        fails_clean(&s.vars, d, &["render", t, &f]);
    }
}

/// A key service that answers every request with an error quoting the request body.
fn echo_service() -> Server {
    Server::start(|seen| {
        let quoted = format!("you sent {}", seen.body);
        let body = serde_json::json!({
            "error": {"error_code": "KMS.0001", "error_msg": quoted, "message": quoted},
            "errors": [quoted],
            "message": quoted,
            "__type": "ValidationException",
        });
        (400, body.to_string())
    })
}

/// The base64 data key a request sent, from the field named `field` of its JSON body.
fn sent_key(server: &Server, field: &str) -> String {
    let seen = server.seen();
    let request = seen.last().expect("the service was called");
    let body: serde_json::Value = serde_json::from_str(&request.body).expect("JSON body");
    body[field].as_str().expect("a data key field").to_owned()
}

#[test]
fn key_services_that_echo_the_request_do_not_put_the_data_key_on_the_terminal() {
    let s = scene();
    let d = s.dir.path();
    write(d, "p.yaml", b"a: C4NARYv4lue9X-kms\n");
    let mut base = s.vars.clone();
    base.remove("SOPS_AGE_KEY_FILE");
    base.insert("LEAFSEAL_HTTP_RETRY_DELAY_MS".into(), "1".into());

    // (flag, key id, body field, credentials): the endpoint variable is set below.
    let hc = echo_service();
    let mut vars = base.clone();
    vars.insert("HUAWEICLOUD_SDK_AK".into(), "AKIDLEAFSEALTEST".into());
    vars.insert("HUAWEICLOUD_SDK_SK".into(), "C4NARYv4lue9X-hc-sk".into());
    vars.insert("HUAWEICLOUD_SDK_PROJECT_ID".into(), "project".into());
    vars.insert(
        "HUAWEICLOUD_SDK_REGION_KMS_CN_NORTH_4".into(),
        hc.url.clone(),
    );
    let id = "cn-north-4:11111111-2222-3333-4444-555555555555";
    let out = fails_clean(&vars, d, &["encrypt", "--hckms", id, "p.yaml"]);
    let key = sent_key(&hc, "plain_text");
    assert!(
        !stderr(&out).contains(&key),
        "HuaweiCloud KMS: {}",
        stderr(&out)
    );

    let vault = echo_service();
    let mut vars = base.clone();
    vars.insert("VAULT_TOKEN".into(), "hvs.C4NARYv4lue9X-vault".into());
    vars.insert("SOPS_HC_VAULT_ALLOWLIST".into(), vault.url.clone());
    let uri = format!("{}/v1/transit/keys/k1", vault.url);
    let out = fails_clean(&vars, d, &["encrypt", "--hc-vault-transit", &uri, "p.yaml"]);
    let key = sent_key(&vault, "plaintext");
    assert!(!stderr(&out).contains(&key), "Vault: {}", stderr(&out));

    let aws = echo_service();
    let mut vars = base.clone();
    vars.insert("AWS_ACCESS_KEY_ID".into(), "AKIALEAFSEALTEST".into());
    vars.insert("AWS_SECRET_ACCESS_KEY".into(), "C4NARYv4lue9X-aws".into());
    vars.insert("AWS_ENDPOINT_URL_KMS".into(), aws.url.clone());
    let arn = "arn:aws:kms:us-east-1:111122223333:key/abc";
    let out = fails_clean(&vars, d, &["encrypt", "--kms", arn, "p.yaml"]);
    let key = sent_key(&aws, "Plaintext");
    assert!(!stderr(&out).contains(&key), "AWS KMS: {}", stderr(&out));

    let gcp = echo_service();
    let mut vars = base.clone();
    vars.insert(
        "GOOGLE_OAUTH_ACCESS_TOKEN".into(),
        "C4NARYv4lue9X-gcp".into(),
    );
    vars.insert("SOPS_GCP_KMS_ENDPOINT".into(), gcp.url.clone());
    let res = "projects/p/locations/global/keyRings/r/cryptoKeys/k";
    let out = fails_clean(&vars, d, &["encrypt", "--gcp-kms", res, "p.yaml"]);
    let key = sent_key(&gcp, "plaintext");
    assert!(!stderr(&out).contains(&key), "GCP KMS: {}", stderr(&out));

    let azure = echo_service();
    let mut vars = base.clone();
    vars.insert("AZURE_TENANT_ID".into(), "tenant".into());
    vars.insert("AZURE_CLIENT_ID".into(), "client".into());
    vars.insert("AZURE_CLIENT_SECRET".into(), "C4NARYv4lue9X-azure".into());
    vars.insert("AZURE_AUTHORITY_HOST".into(), azure.url.clone());
    let url = "https://v.vault.azure.net/keys/k/0123";
    fails_clean(&vars, d, &["encrypt", "--azure-kv", url, "p.yaml"]);
}

#[test]
fn publish_to_a_vault_that_quotes_the_request_shows_no_value() {
    let s = scene();
    let d = s.dir.path();
    let vault = echo_service();
    write(
        d,
        ".sops.yaml",
        format!(
            "destination_rules:\n  - path_regex: '^vault/'\n    vault_address: {}\n    \
             vault_path: app/\n",
            vault.url
        )
        .as_bytes(),
    );
    std::fs::create_dir(d.join("vault")).expect("mkdir");
    // `pin` is shorter than the 4 characters from which any text is masked: it is masked
    // where the server quotes it whole (before round 23 it was shown).
    let plain = b"password: C4NARYv4lue9X-pub1\npin: \"9x7\"\nnested:\n  x: \"C4NARYv4lue9X \\\"quoted\\\" \\n\"\n";
    write(d, "vault/s.yaml", plain);
    let out = run_with(
        &s.vars,
        d,
        &["encrypt", "-i", "--age", AGE_RECIPIENT, "vault/s.yaml"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut vars = s.vars.clone();
    vars.insert("VAULT_TOKEN".into(), "hvs.leafsealtest".into());
    vars.insert("SOPS_HC_VAULT_ALLOWLIST".into(), vault.url.clone());
    let out = fails_clean(&vars, d, &["publish", "-y", "vault/s.yaml"]);
    assert!(stderr(&out).contains("HTTP 400"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("9x7"), "{}", stderr(&out));
}

/// A `SOPS_GPG_EXEC` that fails after echoing the key material it handles to its errors,
/// raw, base64 and hex, each on a `gpg:` line: what it was given to encrypt, or the 32
/// bytes it "decrypted" (also printed on its standard output). The bytes are kept in
/// `got` for the test to look for.
const ECHOING_GPG: &[u8] = b"got=\"$(dirname \"$0\")/got\"
case \"$*\" in
  *--encrypt*) cat > \"$got\" ;;
  *) cat > /dev/null; head -c 32 /dev/urandom > \"$got\"; cat \"$got\" ;;
esac
printf 'gpg: raw ' >&2; cat \"$got\" >&2; printf '\\n' >&2
printf 'gpg: base64 %s\\n' \"$(base64 < \"$got\" | tr -d '\\n')\" >&2
printf 'gpg: hex %s\\n' \"$(od -An -v -tx1 < \"$got\" | tr -d ' \\n')\" >&2
exit 2";

/// Fails when `out`'s standard error holds `key` raw, base64 (standard or URL-safe,
/// padded or not) or hex (either case).
fn assert_key_not_shown(what: &str, out: &Output, key: &[u8]) {
    use base64::Engine;
    let err = &out.stderr;
    assert!(
        !err.windows(key.len()).any(|w| w == key),
        "{what}: the raw key is in stderr"
    );
    let text = stderr(out);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(key);
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
    for form in [hex.clone(), hex.to_ascii_uppercase(), b64, url] {
        assert!(
            !text.contains(&form),
            "{what}: the key is in stderr as {form}:\n{text}"
        );
    }
}

#[test]
fn a_gpg_that_echoes_the_data_key_does_not_put_it_on_the_terminal() {
    let s = scene();
    let d = s.dir.path();
    let bin = tempfile::tempdir().expect("bin");
    let gpg = script(bin.path(), "gpg", ECHOING_GPG);
    let got = bin.path().join("got");
    let mut vars = s.vars.clone();
    vars.insert("SOPS_GPG_EXEC".into(), gpg);
    let fpr = "0123456789ABCDEF0123456789ABCDEF01234567";

    // Encryption: gpg is given the data key.
    write(d, "p.yaml", b"a: C4NARYv4lue9X-pgp\n");
    let out = fails_clean(&vars, d, &["encrypt", "--pgp", fpr, "p.yaml"]);
    assert!(stderr(&out).contains("gpg: base64"), "{}", stderr(&out));
    let key = std::fs::read(&got).expect("the key gpg was given");
    assert_eq!(key.len(), 32);
    assert_key_not_shown("encrypt", &out, &key);

    // Decryption: gpg prints a data key, then fails.
    let iv = "A".repeat(22);
    let file = format!(
        "a: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n\
         sops:\n    pgp:\n        - created_at: \"2024-01-01T00:00:00Z\"\n          \
         enc: |\n            -----BEGIN PGP MESSAGE-----\n\n            wcBMA\n            \
         -----END PGP MESSAGE-----\n          fp: {fpr}\n    \
         lastmodified: \"2024-01-01T00:00:00Z\"\n    \
         mac: ENC[AES256_GCM,data:3q2+7w==,iv:{iv}=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n    \
         version: 3.9.0\n"
    );
    write(d, "s.yaml", file.as_bytes());
    let out = fails_clean(&vars, d, &["decrypt", "s.yaml"]);
    assert!(stderr(&out).contains("gpg: base64"), "{}", stderr(&out));
    let key = std::fs::read(&got).expect("the key gpg printed");
    assert_key_not_shown("decrypt", &out, &key);
}

#[test]
fn renderers_and_git_drivers_fail_without_values() {
    let s = scene();
    let d = s.dir.path();
    std::fs::create_dir(d.join("app")).expect("mkdir");
    let secret = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\nstringData:\n  pw: C4NARYv4lue9X-argo\n";
    write(d, "app/a.yaml", secret);
    let out = run_with(
        &s.vars,
        d,
        &["encrypt", "-i", "--age", AGE_RECIPIENT, "app/a.yaml"],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A broken manifest after a good one: nothing is printed, not even the good one.
    write(
        d,
        "app/z.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: z\ndata:\n  x: [C4NARYv4lue9X-cm\n",
    );
    fails_clean(&s.vars, d, &["argocd", "generate", "app"]);
    std::fs::remove_file(d.join("app/z.yaml")).expect("rm");
    let mut keyless = s.vars.clone();
    keyless.remove("SOPS_AGE_KEY_FILE");
    fails_clean(&keyless, d, &["argocd", "generate", "app"]);

    let nested = encrypted(
        &s.vars,
        d,
        "n.json",
        b"{\"a\":{\"b\":\"C4NARYv4lue9X-kz\"},\"c\":\"C4NARYv4lue9X-kz2\"}",
    );
    write(
        d,
        "gen.yaml",
        format!(
            "apiVersion: leafseal.dev/v1\nkind: SecretGenerator\nmetadata:\n  name: g\n\
             secretFrom:\n  - metadata:\n      name: s\n    envs: [{nested}]\n"
        )
        .as_bytes(),
    );
    fails_clean(&s.vars, d, &["kustomize", "exec-plugin", "gen.yaml"]);

    // Merge driver: values changed on both sides, and a side that is plaintext.
    let base = encrypted(&s.vars, d, "o.yaml", b"a: C4NARYv4lue9X-base\nb: x\n");
    let ours = encrypted(&s.vars, d, "a.yaml", b"a: C4NARYv4lue9X-ours\nb: x\n");
    let theirs = encrypted(&s.vars, d, "b.yaml", b"a: C4NARYv4lue9X-theirs\nb: x\n");
    fails_clean(
        &s.vars,
        d,
        &["git", "merge-driver", &base, &ours, &theirs, &ours],
    );
    write(d, "plain.yaml", b"a: C4NARYv4lue9X-plain\n");
    fails_clean(
        &s.vars,
        d,
        &["git", "merge-driver", &base, &ours, "plain.yaml", &ours],
    );
}

#[test]
fn rotate_to_a_key_service_that_quotes_the_request_keeps_the_data_key_off_the_terminal() {
    // `rotate --add-*` wraps the data key of an existing file for the new key.
    let s = scene();
    let d = s.dir.path();
    let f = encrypted(&s.vars, d, "s.yaml", PLAIN_YAML.as_bytes());
    let hc = echo_service();
    let mut vars = s.vars.clone();
    vars.insert("HUAWEICLOUD_SDK_AK".into(), "AKIDLEAFSEALTEST".into());
    vars.insert("HUAWEICLOUD_SDK_SK".into(), "C4NARYv4lue9X-hc-sk".into());
    vars.insert("HUAWEICLOUD_SDK_PROJECT_ID".into(), "project".into());
    vars.insert(
        "HUAWEICLOUD_SDK_REGION_KMS_CN_NORTH_4".into(),
        hc.url.clone(),
    );
    let id = "cn-north-4:11111111-2222-3333-4444-555555555555";
    let out = fails_clean(&vars, d, &["rotate", "-i", "--add-hckms", id, &f]);
    let key = sent_key(&hc, "plain_text");
    assert!(!stderr(&out).contains(&key), "rotate: {}", stderr(&out));
    let out = fails_clean(&vars, d, &["groups", "add", "--file", &f, "--hckms", id]);
    let key = sent_key(&hc, "plain_text");
    assert!(!stderr(&out).contains(&key), "groups add: {}", stderr(&out));
}
