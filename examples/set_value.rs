//! Change one value of an encrypted file in place, as `leafseal set` does: every other
//! value keeps its ciphertext byte for byte, so the git diff shows one line (plus the
//! MAC and `lastmodified`).
//!
//!     cargo run --example set_value -- secrets.enc.yaml '["db"]["password"]' new-password
//!
//! The keys come from the environment, as for the command line.

use leafseal::api::Changed;
use leafseal::api::Keys;
use leafseal::tree::Value;

/// Sets the string at `key_path` of `file`.
pub fn run(
    file: &str,
    key_path: &str,
    value: &str,
    keys: &Keys,
) -> Result<Changed, leafseal::Error> {
    leafseal::api::set_file(file, key_path, Value::str(value), keys)
}

#[allow(dead_code)]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, path, value] = args.as_slice() else {
        eprintln!("usage: set_value FILE PATH VALUE");
        std::process::exit(100);
    };
    match run(file, path, value, &Keys::from_env()) {
        Ok(Changed::Written) => println!("{file}: {path} set"),
        Ok(_) => println!("{file}: {path} already had that value; nothing written"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(e.code);
        }
    }
}
