//! A key of a kind this build cannot use yet (e.g. a cloud KMS). Its metadata entry is
//! kept verbatim, so a file that also lists a usable key still decrypts, and re-writing
//! the file does not drop the entry.

use zeroize::Zeroizing;

use crate::keys::KeyContext;
use crate::keys::KeyError;
use crate::keys::KeyFields;
use crate::keys::KeyKind;
use crate::keys::MasterKey;

/// A key kept only as its metadata fields.
#[derive(Debug, Clone)]
pub struct OpaqueKey {
    kind: KeyKind,
    id: String,
    fields: KeyFields,
    reason: Option<KeyError>,
}

/// The field that identifies each kind's entry.
fn id_field(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Age => "recipient",
        KeyKind::Pgp => "fp",
        KeyKind::Kms => "arn",
        KeyKind::GcpKms => "resource_id",
        KeyKind::AzureKv => "vault_url",
        KeyKind::HcVault => "vault_address",
        KeyKind::Hckms => "key_id",
    }
}

impl OpaqueKey {
    /// Keeps a metadata entry's fields (without `enc` and `created_at`).
    pub fn from_fields(kind: KeyKind, entry: &KeyFields) -> OpaqueKey {
        let mut fields = KeyFields::new();
        for (k, v) in entry.iter() {
            if k != "enc" && k != "created_at" {
                fields.push(k, v.clone());
            }
        }
        let id = entry.get_str(id_field(kind)).unwrap_or("?").to_owned();
        OpaqueKey {
            kind,
            id,
            fields,
            reason: None,
        }
    }

    /// Keeps an entry whose key could not be parsed, remembering why.
    pub fn unusable(kind: KeyKind, entry: &KeyFields, reason: KeyError) -> OpaqueKey {
        OpaqueKey {
            reason: Some(reason),
            ..Self::from_fields(kind, entry)
        }
    }

    fn unsupported(&self) -> KeyError {
        if let Some(r) = &self.reason {
            return r.clone();
        }
        KeyError::with_hint(
            format!(
                "`{}` keys are not supported by this version of leafseal",
                self.kind.field()
            ),
            "use another key listed in the file",
        )
    }
}

impl MasterKey for OpaqueKey {
    fn kind(&self) -> KeyKind {
        self.kind
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn wrap(&self, _secret: &[u8], _ctx: &KeyContext) -> Result<String, KeyError> {
        Err(self.unsupported())
    }

    fn unwrap(&self, _enc: &str, _ctx: &KeyContext) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Err(self.unsupported())
    }

    fn fields(&self) -> KeyFields {
        self.fields.clone()
    }
}
