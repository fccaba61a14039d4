//! The differential suite against the real sops 3.11.0 (issue #12): every case runs
//! both tools on the same inputs in one temporary directory and compares their
//! output. sops is installed by the tests (tests/support/sops.rs). See
//! docs/compatibility.md for what is compared and the deliberate differences.

mod support;

#[path = "../src/keys/hcvault/bao.rs"]
#[allow(dead_code)]
mod bao;
#[path = "support/moto.rs"]
mod moto;
#[path = "support/sops.rs"]
mod sops_peer;

#[path = "sops_diff/age_recipient.rs"]
mod age_recipient;
#[path = "sops_diff/aliases.rs"]
mod aliases;
#[path = "sops_diff/errors.rs"]
mod errors;
#[path = "sops_diff/exec.rs"]
mod exec;
#[path = "sops_diff/formats.rs"]
mod formats;
#[path = "sops_diff/generated.rs"]
mod generated;
#[path = "sops_diff/generated_docs.rs"]
mod generated_docs;
#[path = "sops_diff/generated_flat.rs"]
mod generated_flat;
#[path = "sops_diff/harness.rs"]
mod harness;
#[path = "sops_diff/history.rs"]
mod history;
#[path = "sops_diff/ini_comments.rs"]
mod ini_comments;
#[path = "sops_diff/inputs.rs"]
mod inputs;
#[path = "sops_diff/key_groups.rs"]
mod key_groups;
#[path = "sops_diff/metadata_member.rs"]
mod metadata_member;
#[path = "sops_diff/metadata_names.rs"]
mod metadata_names;
#[path = "sops_diff/metadata_types.rs"]
mod metadata_types;
#[path = "sops_diff/policy.rs"]
mod policy;
#[path = "sops_diff/regressions.rs"]
mod regressions;
#[path = "sops_diff/services.rs"]
mod services;
#[path = "sops_diff/setvalues.rs"]
mod setvalues;
#[path = "sops_diff/shim.rs"]
mod shim;
#[path = "sops_diff/written_back.rs"]
mod written_back;
#[path = "sops_diff/yaml_comments.rs"]
mod yaml_comments;
#[path = "sops_diff/yaml_lines.rs"]
mod yaml_lines;
