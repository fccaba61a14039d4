//! leafseal: a sops-compatible tool that keeps encrypted secrets in git.
//!
//! The crate is library-first: [`format`](mod@format) parses and writes YAML, JSON, TOML, dotenv, INI
//! and binary files into the format-neutral [`tree`]; [`walk`] visits the leaves;
//! [`crypto`] encrypts them (AES-256-GCM, key path as AAD) and computes the MAC;
//! [`keys`] wraps the data key for age, PGP and KMS recipients; [`metadata`] reads and
//! writes the `sops` block; [`policy`] reads `.sops.yaml`; [`ops`] combines them into the
//! operations the commands use; [`check`] holds files against the policy without any key.
//! Only [`cli`] prints.
#![deny(missing_docs)]
#![warn(clippy::disallowed_macros)]

pub mod api;
pub mod audit;
pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod conflict;
pub mod contrib;
pub mod crypto;
pub mod doctor;
#[cfg(feature = "cli")]
pub mod editor;
pub mod error;
#[cfg(feature = "cli")]
pub mod exec;
pub mod find;
pub mod format;
pub mod git;
pub mod goregex;
pub mod history;
pub mod integrations;
pub mod io;
#[cfg(feature = "age")]
pub mod keygen;
pub mod keys;
#[cfg(feature = "keyservice")]
pub mod keyservice;
pub mod lifecycle;
pub mod metadata;
pub mod ops;
pub mod policy;
pub mod process;
#[cfg(all(feature = "aws", feature = "gcp", feature = "vault"))]
pub mod publish;
pub mod redact;
pub mod report;
pub mod secbuf;
pub mod signing;
pub mod stream;
pub(crate) mod threads;
pub mod time;
pub mod tree;
pub mod treepath;
pub mod walk;

pub use error::Error;
pub use error::ErrorKind;
pub use error::Remedy;
pub use error::Setting;
