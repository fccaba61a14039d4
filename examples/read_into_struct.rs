//! Decrypt a file sops wrote into your own type, as Go programs do with sops's
//! `decrypt.File`.
//!
//!     cargo run --example read_into_struct -- fixtures/sops/yaml/example.age.v3.7.1.yaml
//!
//! The key comes from the environment as for the command line (`SOPS_AGE_KEY_FILE`, …);
//! without one, the fixtures' test key is used.

use serde::Deserialize;

/// The part of the file this program needs; other fields are ignored.
#[derive(Debug, Deserialize)]
pub struct Config {
    /// `myapp1`.
    pub myapp1: String,
    /// `app2`.
    pub app2: App,
}

/// `app2`.
#[derive(Debug, Deserialize)]
pub struct App {
    /// `app2.db`.
    pub db: Db,
}

/// `app2.db`.
#[derive(Debug, Deserialize)]
pub struct Db {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

/// Reads `path` with the keys of the environment, or the fixtures' test key.
pub fn run(path: &str) -> Result<Config, leafseal::Error> {
    let keys = if std::env::var_os("SOPS_AGE_KEY_FILE").is_some() {
        leafseal::api::Keys::from_env()
    } else {
        leafseal::api::Keys::none().age_identity_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/sops/keys/age-test-keys.txt"
        ))
    };
    let secrets = leafseal::api::decrypt_file(path, &keys)?;
    secrets.deserialize::<Config>()
}

#[allow(dead_code)]
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixtures/sops/yaml/example.age.v3.7.1.yaml".to_owned());
    match run(&path) {
        Ok(config) => println!(
            "myapp1 is set; the database user is {}",
            config.app2.db.user
        ),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(e.code);
        }
    }
}
