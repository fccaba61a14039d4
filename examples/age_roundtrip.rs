//! Encrypt a document for an age recipient and decrypt it with the identity, all in
//! memory.
//!
//!     cargo run --example age_roundtrip

use leafseal::api::Keys;
use leafseal::api::Recipients;
use leafseal::format::Format;

/// The fixtures' test identity and its recipient (fixtures/sops/keys/age-test-keys.txt).
pub const IDENTITY: &str =
    "AGE-SECRET-KEY-1NJT5YCS2LWU4V4QAJQ6R4JNU7LXPDX602DZ9NUFANVU5GDTGUWCQ5T59M6";
/// The recipient of [`IDENTITY`].
pub const RECIPIENT: &str = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";

/// Encrypts `plain` (YAML) and decrypts it again; returns the encrypted text and the
/// decrypted `["api"]["token"]`.
pub fn run(plain: &str) -> Result<(String, String), leafseal::Error> {
    let recipients = Recipients::new().age(RECIPIENT)?;
    let sealed = leafseal::api::encrypt_bytes(plain.as_bytes(), Format::Yaml, &recipients)?;
    let keys = Keys::none().age_identity(IDENTITY);
    let secrets = leafseal::api::decrypt_bytes(&sealed, Format::Yaml, &keys)?;
    let token = secrets.get_str(r#"["api"]["token"]"#)?.to_owned();
    Ok((String::from_utf8_lossy(&sealed).into_owned(), token))
}

#[allow(dead_code)]
fn main() {
    match run("api:\n    token: s3cr3t\n    url: https://example.invalid\n") {
        Ok((sealed, token)) => {
            println!("{sealed}");
            println!("decrypted token has {} characters", token.len());
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(e.code);
        }
    }
}
