//! The messages of sops's key service protocol (`keyservice/keyservice.proto`), written
//! out by hand with prost's derive macros (no protoc, no generated code), and the
//! mapping between them and leafseal's master keys.
//!
//! A key travels as the fields of its metadata entry: the proto's `fingerprint` is the
//! entry's `fp`, `vault_url` is `vault_url`, and so on, so both directions go through
//! [`MasterKey::fields`] and [`keys::key_from_entry`] and every key kind leafseal
//! can parse works without code of its own here.

use std::collections::HashMap;
use std::sync::Arc;

use crate::keys;
use crate::keys::FieldValue;
use crate::keys::KeyError;
use crate::keys::KeyFields;
use crate::keys::KeyKind;
use crate::keys::MasterKey;

/// `message Key { oneof key_type { … } }`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Key {
    /// The key, by kind.
    #[prost(oneof = "KeyType", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub key_type: Option<KeyType>,
}

/// The `key_type` oneof.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum KeyType {
    /// AWS KMS.
    #[prost(message, tag = "1")]
    KmsKey(KmsKey),
    /// OpenPGP.
    #[prost(message, tag = "2")]
    PgpKey(PgpKey),
    /// GCP Cloud KMS.
    #[prost(message, tag = "3")]
    GcpKmsKey(GcpKmsKey),
    /// Azure Key Vault.
    #[prost(message, tag = "4")]
    AzureKeyvaultKey(AzureKeyVaultKey),
    /// HashiCorp Vault / OpenBao transit.
    #[prost(message, tag = "5")]
    VaultKey(VaultKey),
    /// age.
    #[prost(message, tag = "6")]
    AgeKey(AgeKey),
    /// HuaweiCloud KMS.
    #[prost(message, tag = "7")]
    HckmsKey(HckmsKey),
}

/// `message PgpKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PgpKey {
    /// The key's fingerprint.
    #[prost(string, tag = "1")]
    pub fingerprint: String,
}

/// `message KmsKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KmsKey {
    /// The key's ARN.
    #[prost(string, tag = "1")]
    pub arn: String,
    /// The role to assume, if any.
    #[prost(string, tag = "2")]
    pub role: String,
    /// The encryption context.
    #[prost(map = "string, string", tag = "3")]
    pub context: HashMap<String, String>,
    /// The AWS profile, if any.
    #[prost(string, tag = "4")]
    pub aws_profile: String,
}

/// `message GcpKmsKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GcpKmsKey {
    /// The key's resource ID.
    #[prost(string, tag = "1")]
    pub resource_id: String,
}

/// `message VaultKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VaultKey {
    /// The server's address.
    #[prost(string, tag = "1")]
    pub vault_address: String,
    /// The transit engine's mount path.
    #[prost(string, tag = "2")]
    pub engine_path: String,
    /// The key's name.
    #[prost(string, tag = "3")]
    pub key_name: String,
}

/// `message AzureKeyVaultKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AzureKeyVaultKey {
    /// The vault's URL.
    #[prost(string, tag = "1")]
    pub vault_url: String,
    /// The key's name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// The key's version.
    #[prost(string, tag = "3")]
    pub version: String,
}

/// `message AgeKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AgeKey {
    /// The recipient.
    #[prost(string, tag = "1")]
    pub recipient: String,
}

/// `message HckmsKey`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HckmsKey {
    /// The key's ID.
    #[prost(string, tag = "1")]
    pub key_id: String,
}

/// `message EncryptRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptRequest {
    /// The key to wrap with.
    #[prost(message, optional, tag = "1")]
    pub key: Option<Key>,
    /// The data key (or Shamir share).
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
}

/// `message EncryptResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptResponse {
    /// The wrapped key: the `enc` text.
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
}

/// `message DecryptRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptRequest {
    /// The key to unwrap with.
    #[prost(message, optional, tag = "1")]
    pub key: Option<Key>,
    /// The `enc` text.
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext: Vec<u8>,
}

/// `message DecryptResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptResponse {
    /// The data key (or Shamir share).
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
}

fn text(entry: &KeyFields, name: &str) -> String {
    entry.get_str(name).unwrap_or_default().to_owned()
}

/// The proto form of a master key (sops's `KeyFromMasterKey`).
pub fn key_to_proto(key: &dyn MasterKey) -> Key {
    let entry = key.fields();
    let t = |name: &str| text(&entry, name);
    let key_type = match key.kind() {
        KeyKind::Age => KeyType::AgeKey(AgeKey {
            recipient: t("recipient"),
        }),
        KeyKind::Pgp => KeyType::PgpKey(PgpKey {
            fingerprint: t("fp"),
        }),
        KeyKind::Kms => {
            let mut context = HashMap::new();
            if let Some(m) = entry.get("context").and_then(FieldValue::as_map) {
                for (k, v) in m.iter() {
                    if let Some(v) = v.as_str() {
                        context.insert(k.to_owned(), v.to_owned());
                    }
                }
            }
            KeyType::KmsKey(KmsKey {
                arn: t("arn"),
                role: t("role"),
                context,
                aws_profile: t("aws_profile"),
            })
        }
        KeyKind::GcpKms => KeyType::GcpKmsKey(GcpKmsKey {
            resource_id: t("resource_id"),
        }),
        KeyKind::AzureKv => KeyType::AzureKeyvaultKey(AzureKeyVaultKey {
            vault_url: t("vault_url"),
            name: t("name"),
            version: t("version"),
        }),
        KeyKind::HcVault => KeyType::VaultKey(VaultKey {
            vault_address: t("vault_address"),
            engine_path: t("engine_path"),
            key_name: t("key_name"),
        }),
        KeyKind::Hckms => KeyType::HckmsKey(HckmsKey {
            key_id: t("key_id"),
        }),
    };
    Key {
        key_type: Some(key_type),
    }
}

/// The kind and metadata fields of a proto key.
fn proto_entry(key: &KeyType) -> (KeyKind, KeyFields) {
    let mut m = KeyFields::new();
    let mut put = |name: &str, v: &str| {
        if !v.is_empty() {
            m.push_str(name, v);
        }
    };
    let kind = match key {
        KeyType::AgeKey(k) => {
            put("recipient", &k.recipient);
            KeyKind::Age
        }
        KeyType::PgpKey(k) => {
            put("fp", &k.fingerprint);
            KeyKind::Pgp
        }
        KeyType::KmsKey(k) => {
            put("arn", &k.arn);
            put("role", &k.role);
            put("aws_profile", &k.aws_profile);
            if !k.context.is_empty() {
                let mut pairs: Vec<_> = k.context.iter().collect();
                pairs.sort();
                let mut c = KeyFields::new();
                for (name, v) in pairs {
                    c.push_str(name.clone(), v.as_str());
                }
                m.push("context", FieldValue::Map(c));
            }
            KeyKind::Kms
        }
        KeyType::GcpKmsKey(k) => {
            put("resource_id", &k.resource_id);
            KeyKind::GcpKms
        }
        KeyType::AzureKeyvaultKey(k) => {
            put("vault_url", &k.vault_url);
            put("name", &k.name);
            put("version", &k.version);
            KeyKind::AzureKv
        }
        KeyType::VaultKey(k) => {
            put("vault_address", &k.vault_address);
            put("engine_path", &k.engine_path);
            put("key_name", &k.key_name);
            KeyKind::HcVault
        }
        KeyType::HckmsKey(k) => {
            put("key_id", &k.key_id);
            KeyKind::Hckms
        }
    };
    (kind, m)
}

/// A master key from its proto form (what the server uses).
pub fn key_from_proto(key: &KeyType) -> Result<Arc<dyn MasterKey>, KeyError> {
    let (kind, entry) = proto_entry(key);
    keys::key_from_entry(kind, &entry)
}

/// The kind and string form of a proto key, for prompts and logs (never data): shown as
/// key ids are ([`MasterKey::display_id`]), since the client chose every field.
pub fn describe(key: &KeyType) -> (KeyKind, String) {
    let (kind, entry) = proto_entry(key);
    let id = match keys::key_from_entry(kind, &entry) {
        Ok(k) => k.display_id(),
        Err(_) => entry
            .iter()
            .filter_map(|(k, v)| {
                v.as_str().map(|v| {
                    format!(
                        "{}={}",
                        crate::redact::display_id(k),
                        crate::redact::display_id(v)
                    )
                })
            })
            .collect::<Vec<_>>()
            .join(" "),
    };
    (kind, id)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn every_kind_round_trips_through_the_proto() {
        let keys: Vec<(KeyKind, &str)> = vec![
            (
                KeyKind::Age,
                "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
            ),
            (KeyKind::Pgp, "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
            (
                KeyKind::Kms,
                "arn:aws:kms:us-east-1:123456789012:key/abcd+arn:aws:iam::123456789012:role/r",
            ),
            (
                KeyKind::GcpKms,
                "projects/p/locations/global/keyRings/r/cryptoKeys/k",
            ),
            (
                KeyKind::AzureKv,
                "https://v.vault.azure.net/keys/name/0123456789abcdef0123456789abcdef",
            ),
            (
                KeyKind::HcVault,
                "https://vault.example:8200/v1/transit/keys/k",
            ),
        ];
        for (kind, s) in keys {
            let key = keys::key_from_str(kind, s).expect("parse");
            let proto = key_to_proto(key.as_ref());
            let bytes = proto.encode_to_vec();
            let back = Key::decode(bytes.as_slice()).expect("decode");
            let kt = back.key_type.expect("key type");
            let again = key_from_proto(&kt).expect("from proto");
            assert_eq!(again.kind(), kind);
            assert_eq!(again.id(), key.id(), "{kind:?}");
        }
    }

    #[test]
    fn field_numbers_match_sops() {
        // Key{age_key{recipient:"a"}}: field 6, length-delimited, containing field 1.
        let k = Key {
            key_type: Some(KeyType::AgeKey(AgeKey {
                recipient: "a".into(),
            })),
        };
        assert_eq!(k.encode_to_vec(), [0x32, 3, 0x0a, 1, b'a']);
        let r = DecryptRequest {
            key: None,
            ciphertext: vec![7],
        };
        assert_eq!(r.encode_to_vec(), [0x12, 1, 7]);
    }
}
