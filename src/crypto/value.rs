//! The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value codec.
//!
//! AES-256-GCM with a 32-byte nonce; the AAD is the value's key path (`a:b:c:`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::crypto::CryptoError;
use crate::crypto::DataKey;
use crate::crypto::gcm::Gcm;
use crate::tree::Bytes;
use crate::tree::Text;
use crate::tree::Timestamp;
use crate::tree::Value;

/// The `type:` of an encrypted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// UTF-8 (or, for binary files, raw) text.
    Str,
    /// Signed 64-bit integer.
    Int,
    /// IEEE double.
    Float,
    /// Boolean (`True`/`False`).
    Bool,
    /// RFC 3339 timestamp.
    Time,
    /// A comment's text.
    Comment,
    /// Legacy sops 1.x/2.x raw bytes (read only).
    Bytes,
}

impl ValueType {
    /// The name written in `type:`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Time => "time",
            ValueType::Comment => "comment",
            ValueType::Bytes => "bytes",
        }
    }

    fn parse(s: &str) -> Option<ValueType> {
        Some(match s {
            "str" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "time" => ValueType::Time,
            "comment" => ValueType::Comment,
            "bytes" => ValueType::Bytes,
            _ => return None,
        })
    }
}

/// A parsed `ENC[...]` value (still encrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncValue {
    /// Ciphertext without the tag.
    pub data: Vec<u8>,
    /// The 32-byte nonce.
    pub iv: [u8; 32],
    /// The 16-byte GCM tag.
    pub tag: [u8; 16],
    /// The declared type.
    pub typ: ValueType,
}

/// A parsed `ENC[...]` value whose ciphertext is still base64 text borrowed from the
/// input (IV and tag decoded): decrypting it needs no allocation.
#[derive(Debug, Clone, Copy)]
pub struct EncFields<'a> {
    /// The ciphertext without the tag, base64.
    pub data: &'a str,
    /// The 32-byte nonce.
    pub iv: [u8; 32],
    /// The 16-byte GCM tag.
    pub tag: [u8; 16],
    /// The declared type.
    pub typ: ValueType,
    /// The tag's base64 text, when the value has the usual layout (a 44-character IV and
    /// a 24-character tag right after the data): what the integrity record hashes of it.
    pub tag_text: Option<&'a str>,
}

impl<'a> EncFields<'a> {
    /// Parses `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, decoding the IV and the tag but
    /// not the data. Text after the closing `]` is refused (sops ignores most of it).
    pub fn parse(s: &'a str) -> Result<EncFields<'a>, CryptoError> {
        let rest = s.strip_prefix(PREFIX).ok_or(CryptoError::Malformed(
            "does not start with ENC[AES256_GCM,data:",
        ))?;
        let (data, iv, tag, typ, tag_text) = match split_fast(rest) {
            Some((data, iv, tag, typ)) => (data, iv, tag, typ, Some(tag)),
            None => {
                let (data, iv, tag, typ) = split_fields(rest)?;
                (data, iv, tag, typ, None)
            }
        };
        let end = crate::find::byte(b']', typ.as_bytes())
            .ok_or(CryptoError::Malformed("missing closing bracket"))?;
        // Nothing may follow the closing bracket on its line: neither the MAC nor the
        // integrity record would cover it (sops ignores most such text; leafseal
        // refuses it). Further lines are another matter: go-ini joins consecutive comment
        // lines into one comment, so a clear note written under an encrypted INI comment
        // follows it after a line break; sops and leafseal decrypt the first line and
        // drop the rest.
        let after = &typ[end + 1..];
        if !after.is_empty() && !after.starts_with('\n') {
            return Err(CryptoError::Malformed("text after the closing bracket"));
        }
        EncFields::from_parts(data, iv, tag, &typ[..end], tag_text)
    }

    /// [`EncFields::parse`] of a text the caller measured as being in the usual layout:
    /// `ENC[AES256_GCM,data:`, `data_len` bytes of data up to its first comma, a
    /// 44-character IV, a 24-character tag, the type's name, `]` as its last byte. The
    /// fields are taken by position (their names checked in place) without searching for
    /// the comma and the bracket; a text not so laid out is parsed as any other.
    pub(crate) fn parse_usual(s: &'a str, data_len: usize) -> Result<EncFields<'a>, CryptoError> {
        let iv_at = PREFIX.len() + data_len + ",iv:".len();
        let tag_at = iv_at + 44 + ",tag:".len();
        let typ_at = tag_at + 24 + ",type:".len();
        let names_in_place = s.starts_with(PREFIX)
            && s.get(iv_at - 4..iv_at) == Some(",iv:")
            && s.get(tag_at - 5..tag_at) == Some(",tag:")
            && s.get(typ_at - 6..typ_at) == Some(",type:")
            && s.ends_with(']');
        let fields = (
            s.get(PREFIX.len()..PREFIX.len() + data_len),
            s.get(iv_at..iv_at + 44),
            s.get(tag_at..tag_at + 24),
            s.get(typ_at..s.len().saturating_sub(1)),
        );
        match fields {
            (Some(data), Some(iv), Some(tag), Some(typ))
                if names_in_place && !typ.contains(']') =>
            {
                EncFields::from_parts(data, iv, tag, typ, Some(tag))
            }
            _ => EncFields::parse(s),
        }
    }

    /// The fields from their texts: the type's name is checked and the IV and the tag
    /// decoded.
    fn from_parts(
        data: &'a str,
        iv: &str,
        tag: &'a str,
        typ: &str,
        tag_text: Option<&'a str>,
    ) -> Result<EncFields<'a>, CryptoError> {
        let typ = ValueType::parse(typ).ok_or(CryptoError::UnknownType)?;
        let iv = match super::b64::decode_fixed::<32>(iv.as_bytes()) {
            Some(iv) => iv,
            None => {
                let mut ivbuf = [0u8; 36];
                let n = STANDARD
                    .decode_slice(iv, &mut ivbuf)
                    .map_err(|_| CryptoError::Malformed("iv is not valid base64 of 32 bytes"))?;
                ivbuf[..n]
                    .try_into()
                    .map_err(|_| CryptoError::Malformed("iv is not 32 bytes"))?
            }
        };
        let tag = match super::b64::decode_fixed::<16>(tag.as_bytes()) {
            Some(tag) => tag,
            None => {
                let mut tagbuf = [0u8; 20];
                let n = STANDARD
                    .decode_slice(tag, &mut tagbuf)
                    .map_err(|_| CryptoError::Malformed("tag is not valid base64 of 16 bytes"))?;
                tagbuf[..n]
                    .try_into()
                    .map_err(|_| CryptoError::Malformed("tag is not 16 bytes"))?
            }
        };
        Ok(EncFields {
            data,
            iv,
            tag,
            typ,
            tag_text,
        })
    }

    /// Decodes and decrypts into `buf` (cleared first, its allocation reused), checking
    /// the tag against the AAD. On failure `buf` holds no plaintext.
    pub fn open_into(
        &self,
        cipher: &ValueCipher,
        aad: &[u8],
        buf: &mut Zeroizing<Vec<u8>>,
    ) -> Result<(), CryptoError> {
        let need = self.data.len().div_ceil(4).saturating_mul(3);
        if buf.capacity() < need {
            // Growing would free the old allocation with earlier plaintext in it.
            zeroize::Zeroize::zeroize(&mut **buf);
            buf.reserve(need.max(64));
        }
        buf.clear();
        if super::b64::decode_into(self.data.as_bytes(), buf).is_none() {
            STANDARD
                .decode_vec(self.data, buf)
                .map_err(|_| CryptoError::Malformed("data is not valid base64"))?;
        }
        decrypt_in_place(cipher, &self.iv, &self.tag, aad, buf.as_mut_slice())
    }
}

const PREFIX: &str = "ENC[AES256_GCM,data:";

#[path = "value_fields.rs"]
mod fields;
use fields::split_fast;
use fields::split_fields;

/// Whether a string looks like an encrypted value (starts with the `ENC[AES256_GCM,` prefix).
pub fn is_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,")
}

impl EncValue {
    /// Parses `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`; text after the closing `]` is
    /// refused ([`EncFields::parse`]).
    pub fn parse(s: &str) -> Result<EncValue, CryptoError> {
        let f = EncFields::parse(s)?;
        let data = STANDARD
            .decode(f.data)
            .map_err(|_| CryptoError::Malformed("data is not valid base64"))?;
        Ok(EncValue {
            data,
            iv: f.iv,
            tag: f.tag,
            typ: f.typ,
        })
    }

    /// Renders the `ENC[...]` text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(PREFIX.len() + self.data.len() * 4 / 3 + 100);
        out.push_str(PREFIX);
        STANDARD.encode_string(&self.data, &mut out);
        out.push_str(",iv:");
        STANDARD.encode_string(self.iv, &mut out);
        out.push_str(",tag:");
        STANDARD.encode_string(self.tag, &mut out);
        out.push_str(",type:");
        out.push_str(self.typ.name());
        out.push(']');
        out
    }
}

/// The value cipher with its key schedule expanded once, for encrypting or decrypting
/// many values with the same data key.
pub struct ValueCipher(Gcm);

impl std::fmt::Debug for ValueCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueCipher([REDACTED])")
    }
}

impl ValueCipher {
    /// Expands the key.
    pub fn new(key: &DataKey) -> ValueCipher {
        ValueCipher(Gcm::new(key.expose()))
    }
}

/// Encrypts raw plaintext bytes with the given nonce (fresh random when `None`).
pub fn seal(
    key: &DataKey,
    plaintext: &[u8],
    aad: &[u8],
    typ: ValueType,
    iv: Option<[u8; 32]>,
) -> Result<EncValue, CryptoError> {
    seal_with(&ValueCipher::new(key), plaintext, aad, typ, iv)
}

/// Decrypts to raw plaintext bytes, checking the tag against the AAD.
pub fn open(key: &DataKey, enc: &EncValue, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_with(&ValueCipher::new(key), enc, aad)
}

/// [`seal`] with an expanded key.
pub fn seal_with(
    cipher: &ValueCipher,
    plaintext: &[u8],
    aad: &[u8],
    typ: ValueType,
    iv: Option<[u8; 32]>,
) -> Result<EncValue, CryptoError> {
    let iv = match iv {
        Some(iv) => iv,
        None => {
            let mut iv = [0u8; 32];
            crate::crypto::random_bytes(&mut iv)?;
            iv
        }
    };
    let mut buf = plaintext.to_vec();
    let Ok(tag) = cipher.0.seal_in_place(&iv, aad, &mut buf) else {
        // Refused before encrypting (a text beyond GCM's limit): `buf` is the plaintext.
        zeroize::Zeroize::zeroize(&mut buf);
        return Err(CryptoError::Authentication);
    };
    Ok(EncValue {
        data: buf,
        iv,
        tag,
        typ,
    })
}

/// [`seal_with`] with a given nonce, rendered at once: the `ENC[…]` text that
/// `seal_with(…)?.render()` gives, written into one buffer of its final size (no
/// intermediate value, one allocation). Short plaintexts are encrypted on the stack.
pub fn seal_text(
    cipher: &ValueCipher,
    plaintext: &[u8],
    aad: &[u8],
    typ: ValueType,
    iv: [u8; 32],
) -> Result<String, CryptoError> {
    let mut out = Vec::with_capacity(sealed_len(plaintext.len(), typ));
    seal_append(cipher, plaintext, aad, typ, iv, &mut out)?;
    String::from_utf8(out).map_err(|_| CryptoError::Malformed("internal error: ENC text"))
}

/// The length of the `ENC[…]` text of a plaintext of `plain_len` bytes and type `typ`.
pub fn sealed_len(plain_len: usize, typ: ValueType) -> usize {
    PREFIX.len()
        + plain_len.div_ceil(3) * 4
        + ",iv:".len()
        + 44
        + ",tag:".len()
        + 24
        + ",type:".len()
        + typ.name().len()
        + 1
}

/// Where the fields of an `ENC[…]` text appended by [`seal_append`] are, relative to
/// where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedSpan {
    /// The whole text's length.
    pub len: usize,
    /// The length of the data's base64.
    pub data_len: usize,
    /// The offset of the tag's base64 (24 bytes).
    pub tag_at: usize,
}

/// [`seal_text`] appended to `out` (the same bytes; `out` grows by exactly
/// [`sealed_len`] bytes, reserved first so a caller that reserved them sees no
/// reallocation). Gives where the data and the tag stand in the appended text.
pub fn seal_append(
    cipher: &ValueCipher,
    plaintext: &[u8],
    aad: &[u8],
    typ: ValueType,
    iv: [u8; 32],
    out: &mut Vec<u8>,
) -> Result<SealedSpan, CryptoError> {
    let mut stack = [0u8; 256];
    let mut heap = Vec::new();
    let buf: &mut [u8] = match stack.get_mut(..plaintext.len()) {
        Some(b) => b,
        None => {
            heap.resize(plaintext.len(), 0);
            &mut heap
        }
    };
    buf.copy_from_slice(plaintext);
    let r = cipher.0.seal_in_place(&iv, aad, buf);
    let Ok(tag) = r else {
        zeroize::Zeroize::zeroize(buf);
        return Err(CryptoError::Authentication);
    };
    let data = &*buf;
    let name = typ.name();
    let len = sealed_len(data.len(), typ);
    out.reserve(len);
    let start = out.len();
    out.extend_from_slice(PREFIX.as_bytes());
    push_b64(out, data);
    let data_len = out.len() - start - PREFIX.len();
    out.extend_from_slice(b",iv:");
    push_b64(out, &iv);
    out.extend_from_slice(b",tag:");
    let tag_at = out.len() - start;
    push_b64(out, &tag);
    out.extend_from_slice(b",type:");
    out.extend_from_slice(name.as_bytes());
    out.push(b']');
    Ok(SealedSpan {
        len: out.len() - start,
        data_len,
        tag_at,
    })
}

/// Appends the padded base64 of `bytes`.
fn push_b64(out: &mut Vec<u8>, bytes: &[u8]) {
    super::b64::encode_append(bytes, out);
}

/// [`open`] with an expanded key.
pub fn open_with(
    cipher: &ValueCipher,
    enc: &EncValue,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut buf = Zeroizing::new(enc.data.clone());
    decrypt_in_place(cipher, &enc.iv, &enc.tag, aad, &mut buf)?;
    Ok(buf)
}

/// AES-256-GCM decryption in place; the tag is checked before anything is decrypted.
fn decrypt_in_place(
    cipher: &ValueCipher,
    iv: &[u8; 32],
    tag: &[u8; 16],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<(), CryptoError> {
    cipher
        .0
        .open_in_place(iv, aad, buf, tag)
        .map_err(|_| CryptoError::Authentication)
}

/// Calls `f` with the plaintext byte form of a leaf without copying strings (the MAC's
/// input). `None` for null and containers.
/// Numbers and booleans are formatted on the stack (the same bytes as [`plaintext_of`]).
pub fn with_plaintext<R>(v: &Value, f: impl FnOnce(&[u8], ValueType) -> R) -> Option<R> {
    use std::fmt::Write as _;
    let mut t = StackText::default();
    match v {
        Value::Str(s) => Some(f(s.as_bytes(), ValueType::Str)),
        Value::Bytes(b) => Some(f(b, ValueType::Str)),
        Value::Null | Value::Map(_) | Value::Seq(_) => None,
        Value::Bool(b) => Some(f(if *b { b"True" } else { b"False" }, ValueType::Bool)),
        Value::Int(i) if write!(t, "{i}").is_ok() => Some(f(t.as_bytes(), ValueType::Int)),
        // `format_float` of a finite float (longer forms go through it).
        Value::Float(x) if x.is_finite() && write!(t, "{x}").is_ok() => {
            Some(f(t.as_bytes(), ValueType::Float))
        }
        other => plaintext_of(other).map(|(p, t)| f(&p, t)),
    }
}

/// A short plaintext form written on the stack, wiped when dropped; a write that does not
/// fit fails (the caller then takes the heap form).
struct StackText {
    buf: [u8; 48],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl Drop for StackText {
    fn drop(&mut self) {
        // A plain fill kept by the barrier (a volatile byte loop costs 48 stores a value).
        self.buf.fill(0);
        zeroize::optimization_barrier(&self.buf);
    }
}

/// Formats a float the way Go's `strconv.FormatFloat(f, 'f', -1, 64)` does.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{f}")
    }
}

/// The plaintext byte form of a leaf (what is encrypted and what goes into the MAC), and
/// its type. `None` for null and for containers.
pub fn plaintext_of(v: &Value) -> Option<(Zeroizing<Vec<u8>>, ValueType)> {
    let (bytes, t) = match v {
        Value::Str(s) => (s.as_bytes().to_vec(), ValueType::Str),
        Value::Bytes(b) => (b.to_vec(), ValueType::Str),
        Value::Int(i) => (i.to_string().into_bytes(), ValueType::Int),
        Value::Float(f) => (format_float(*f).into_bytes(), ValueType::Float),
        Value::Bool(b) => (
            if *b { "True" } else { "False" }.as_bytes().to_vec(),
            ValueType::Bool,
        ),
        Value::Time(t) => (t.to_rfc3339_nano().into_bytes(), ValueType::Time),
        Value::Null | Value::Map(_) | Value::Seq(_) => return None,
    };
    Some((Zeroizing::new(bytes), t))
}

fn parse_go_float(s: &str) -> Option<f64> {
    let word = s.trim_start_matches(['+', '-']);
    let named = ["inf", "infinity", "nan"]
        .iter()
        .any(|n| word.eq_ignore_ascii_case(n));
    if !named
        && !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Turns decrypted plaintext bytes of a given type back into a tree value.
/// `Comment` and `Str` both give strings (the caller knows which it asked for).
pub fn value_from_plaintext(bytes: &[u8], typ: ValueType) -> Result<Value, CryptoError> {
    let text = || std::str::from_utf8(bytes).map_err(|_| CryptoError::BadPlaintext(typ.name()));
    Ok(match typ {
        ValueType::Str | ValueType::Comment | ValueType::Bytes => {
            match std::str::from_utf8(bytes) {
                Ok(s) => Value::Str(Text::from(s)),
                Err(_) => Value::Bytes(Bytes::new(bytes.to_vec())),
            }
        }
        ValueType::Int => Value::Int(
            text()?
                .parse::<i64>()
                .map_err(|_| CryptoError::BadPlaintext("int"))?,
        ),
        ValueType::Float => {
            Value::Float(parse_go_float(text()?).ok_or(CryptoError::BadPlaintext("float"))?)
        }
        ValueType::Bool => {
            Value::Bool(parse_go_bool(text()?).ok_or(CryptoError::BadPlaintext("bool"))?)
        }
        ValueType::Time => {
            Value::Time(Timestamp::parse_rfc3339(text()?).ok_or(CryptoError::BadPlaintext("time"))?)
        }
    })
}

#[cfg(test)]
#[path = "value_tests.rs"]
mod tests;
