/// The marker that opens or closes a map (`M`/`m`) or a list (`L`/`l`).
pub fn tag(out: &mut Vec<u8>, t: u8) {
    out.push(t);
}

/// A map key.
pub fn key(out: &mut Vec<u8>, k: &[u8]) {
    out.reserve(9 + k.len());
    out.push(b'K');
    out.extend_from_slice(&(k.len() as u64).to_le_bytes());
    out.extend_from_slice(k);
}

/// An `ENC[…]` string value; `false` (nothing written) when `s` is not one.
pub fn encrypted(out: &mut Vec<u8>, s: &str) -> bool {
    let Some((typ, data_len, tag)) = super::enc_parts(s) else {
        return false;
    };
    fields(out, typ, data_len, tag);
    true
}

/// The `ENC[…]` value `s`, already parsed into `f`: from the fields when the value has
/// the usual layout (no second search of its text), else found in `s` as [`encrypted`]
/// finds it; `false` (nothing written) when `s` is not one. The bytes are [`encrypted`]'s
/// for a value that decrypts (the streamed decrypt and the splice send any other to
/// their tree paths).
pub fn parsed(out: &mut Vec<u8>, f: &crate::crypto::value::EncFields<'_>, s: &str) -> bool {
    match f.tag_text {
        Some(tag) => {
            fields(out, f.typ.name(), f.data.len(), tag);
            true
        }
        None => encrypted(out, s),
    }
}

/// An `ENC[…]` string value from its parsed fields (the type's name, the length of
/// the data's base64, the tag's base64 as written): the bytes [`encrypted`] writes
/// for a value that decrypts.
pub fn fields(out: &mut Vec<u8>, typ: &str, data_len: usize, tag: &str) {
    out.reserve(25 + typ.len() + tag.len());
    out.push(b'e');
    out.extend_from_slice(&(typ.len() as u64).to_le_bytes());
    out.extend_from_slice(typ.as_bytes());
    out.extend_from_slice(&(data_len as u64).to_le_bytes());
    out.extend_from_slice(&(tag.len() as u64).to_le_bytes());
    out.extend_from_slice(tag.as_bytes());
}
