//! What `leafseal doctor` learns about one master key without opening any file: where
//! its credentials or identity would come from, and whether a harmless call works.

use crate::keys::KeyError;

/// The outcome of [`crate::keys::MasterKey::probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Where the credentials or identity would come from (`profile dev`, `SOPS_AGE_KEY_FILE
    /// (…): 1 identity loaded`, …), when the key source can tell. Never a secret.
    pub source: Option<String>,
    /// What was checked and how it went.
    pub status: ProbeStatus,
}

/// Whether a probe worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeStatus {
    /// The check passed; the text says what was checked (`KMS DescribeKey`, …).
    Ok(String),
    /// The check failed, with the reason and a hint.
    Failed(KeyError),
    /// This key source has no probe (the text says why); the per-file check still tries
    /// the key for real.
    NotChecked(String),
}

impl Probe {
    /// The default for key sources without a probe.
    pub fn not_checked() -> Probe {
        Probe {
            source: None,
            status: ProbeStatus::NotChecked(
                "no credential probe for this kind of key yet".to_owned(),
            ),
        }
    }

    /// Whether the probe passed.
    pub fn is_ok(&self) -> bool {
        matches!(self.status, ProbeStatus::Ok(_))
    }
}
