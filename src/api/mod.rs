//! The high-level library API: read and write sops files from a Rust program with one
//! call, the way Go programs use sops's `decrypt.File`.
//!
//! Everything here is a thin layer over [`crate::ops`] and [`crate::lifecycle`], the
//! same operations the command line uses, so a file written through the library is the
//! file `leafseal` (and sops) would write: minimal diffs, the MAC, the integrity record.
//! The library never prompts, prints or exits: errors come back as [`Error`] with an
//! [`ErrorKind`] and the exit code the command line would use.
//!
//! ```
//! # fn main() -> Result<(), leafseal::Error> {
//! use leafseal::api::{Keys, Recipients};
//! use leafseal::format::Format;
//!
//! // The test key of the fixtures (fixtures/sops/keys/age-test-keys.txt).
//! let identity = "AGE-SECRET-KEY-1NJT5YCS2LWU4V4QAJQ6R4JNU7LXPDX602DZ9NUFANVU5GDTGUWCQ5T59M6";
//! let recipient = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
//! let plain = br#"{"db": {"user": "app", "password": "hunter2"}}"#;
//! let sealed = leafseal::api::encrypt_bytes(plain, Format::Json, &Recipients::new().age(recipient)?)?;
//! assert!(!String::from_utf8_lossy(&sealed).contains("hunter2"));
//!
//! let secrets = leafseal::api::decrypt_bytes(&sealed, Format::Json, &Keys::none().age_identity(identity))?;
//! assert_eq!(secrets.get_str(r#"["db"]["password"]"#)?, "hunter2");
//! # Ok(())
//! # }
//! ```

mod keys;
mod read;
mod recipients;
mod write;

pub use crate::error::Error;
pub use crate::error::ErrorKind;
pub use keys::Keys;
pub use read::Secrets;
pub use read::decrypt_bytes;
pub use read::decrypt_file;
pub use recipients::Recipients;
pub use write::Changed;
pub use write::edit_file;
pub use write::encrypt_bytes;
pub use write::encrypt_file;
pub use write::rotate_file;
pub use write::set_file;
pub use write::unset_file;
pub use write::updatekeys_file;
