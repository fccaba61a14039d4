//! A minimal PKCS#12 (`.pfx`/`.p12`) reader for client certificates: the certificates
//! and the private key of a file whose bags are protected with PBES2 (PBKDF2 with
//! HMAC-SHA-1 or HMAC-SHA-256, AES-128/192/256-CBC) — what OpenSSL 3 and current
//! Windows and Azure exports write — or not encrypted at all. Files using the legacy
//! PKCS#12 ciphers (3DES, RC2) are refused with a hint to re-export them. The file's
//! MAC is not checked: a wrong password shows as a decryption failure, and the key and
//! certificate are validated when used. Errors never quote the file.

use aes::cipher::BlockDecryptMut as _;
use aes::cipher::KeyIvInit as _;
use aes::cipher::block_padding::Pkcs7;
use zeroize::Zeroizing;

use super::assertion::CertKey;

const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
const KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x01,
];
const SHROUDED_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
];
const CERT_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x03,
];
const X509_CERT: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x16, 0x01];
const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
const AES_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01];
const LEGACY_PBE_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];

const BAD: &str = "the file is neither PEM nor a PKCS#12 file leafseal can read";

/// One DER element: its tag and content; the rest of the input.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || BAD.to_owned();
    let tag = *input.first().ok_or_else(bad)?;
    let first = *input.get(1).ok_or_else(bad)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(bad());
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*input.get(2 + i).ok_or_else(bad)?);
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len).ok_or_else(bad)?;
    let content = input.get(head..end).ok_or_else(bad)?;
    Ok((tag, content, &input[end..]))
}

/// The content of an element with tag `want`; the rest.
fn expect(input: &[u8], want: u8) -> Result<(&[u8], &[u8]), String> {
    let (tag, content, rest) = tlv(input)?;
    if tag != want {
        return Err(BAD.to_owned());
    }
    Ok((content, rest))
}

/// The elements of a SEQUENCE's or SET's content.
fn items(mut content: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (tag, c, rest) = tlv(content)?;
        out.push((tag, c));
        content = rest;
    }
    Ok(out)
}

/// The certificates and private key of a PKCS#12 file.
pub(super) fn parse(der: &[u8], password: &str) -> Result<CertKey, String> {
    let (pfx, _) = expect(der, 0x30)?;
    let (_version, rest) = expect(pfx, 0x02)?;
    let (auth_safe, _mac) = expect(rest, 0x30)?;
    let (oid, rest) = expect(auth_safe, 0x06)?;
    if oid != DATA {
        return Err(
            "the PKCS#12 file is signed with a public key, which is not supported".to_owned(),
        );
    }
    let (explicit, _) = expect(rest, 0xa0)?;
    let (octets, _) = expect(explicit, 0x04)?;
    let (safes, _) = expect(octets, 0x30)?;
    let mut chain = Vec::new();
    let mut key = None;
    for (tag, info) in items(safes)? {
        if tag != 0x30 {
            return Err(BAD.to_owned());
        }
        let (oid, rest) = expect(info, 0x06)?;
        let (explicit, _) = expect(rest, 0xa0)?;
        let contents: Zeroizing<Vec<u8>> = if oid == DATA {
            Zeroizing::new(expect(explicit, 0x04)?.0.to_vec())
        } else if oid == ENCRYPTED_DATA {
            let (enc_data, _) = expect(explicit, 0x30)?;
            let (_version, rest) = expect(enc_data, 0x02)?;
            let (eci, _) = expect(rest, 0x30)?;
            let (_type, rest) = expect(eci, 0x06)?;
            let (alg, rest) = expect(rest, 0x30)?;
            let (tag, ciphertext, _) = tlv(rest)?;
            if tag != 0x80 {
                return Err(BAD.to_owned());
            }
            decrypt(alg, ciphertext, password)?
        } else {
            return Err(BAD.to_owned());
        };
        let (bags, _) = expect(&contents, 0x30)?;
        for (tag, bag) in items(bags)? {
            if tag != 0x30 {
                return Err(BAD.to_owned());
            }
            let (bag_id, rest) = expect(bag, 0x06)?;
            let (value, _) = expect(rest, 0xa0)?;
            if bag_id == CERT_BAG {
                let (cert_bag, _) = expect(value, 0x30)?;
                let (cert_type, rest) = expect(cert_bag, 0x06)?;
                if cert_type == X509_CERT {
                    let (explicit, _) = expect(rest, 0xa0)?;
                    chain.push(expect(explicit, 0x04)?.0.to_vec());
                }
            } else if bag_id == KEY_BAG && key.is_none() {
                key = Some(Zeroizing::new(element(value)?.to_vec()));
            } else if bag_id == SHROUDED_KEY_BAG && key.is_none() {
                let (epki, _) = expect(value, 0x30)?;
                let (alg, rest) = expect(epki, 0x30)?;
                let (ciphertext, _) = expect(rest, 0x04)?;
                key = Some(decrypt(alg, ciphertext, password)?);
            }
        }
    }
    let key = key.ok_or("the PKCS#12 file holds no private key")?;
    if chain.is_empty() {
        return Err("the PKCS#12 file holds no certificate".to_owned());
    }
    Ok(CertKey { chain, key })
}

/// The whole first element of `input` (tag, length and content).
fn element(input: &[u8]) -> Result<&[u8], String> {
    let (_, _, rest) = tlv(input)?;
    Ok(&input[..input.len() - rest.len()])
}

/// Decrypts PBES2-protected bytes (`alg` is the AlgorithmIdentifier's content).
fn decrypt(alg: &[u8], ciphertext: &[u8], password: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let (oid, rest) = expect(alg, 0x06)?;
    if oid.starts_with(LEGACY_PBE_PREFIX) {
        return Err(
            "the PKCS#12 file uses a legacy cipher (3DES or RC2); re-export it with \
                    AES, e.g. `openssl pkcs12 -in old.pfx -nodes | openssl pkcs12 -export \
                    -keypbe AES-256-CBC -certpbe AES-256-CBC -out new.pfx`, or use a PEM file"
                .to_owned(),
        );
    }
    if oid != PBES2 {
        return Err("the PKCS#12 file uses an unsupported encryption scheme".to_owned());
    }
    let (params, _) = expect(rest, 0x30)?;
    let (kdf, rest) = expect(params, 0x30)?;
    let (scheme, _) = expect(rest, 0x30)?;
    let (kdf_oid, rest) = expect(kdf, 0x06)?;
    if kdf_oid != PBKDF2 {
        return Err("the PKCS#12 file uses an unsupported key derivation".to_owned());
    }
    let (kdf_params, _) = expect(rest, 0x30)?;
    let (salt, rest) = expect(kdf_params, 0x04)?;
    let (iter, mut rest) = expect(rest, 0x02)?;
    let iterations = iter
        .iter()
        .try_fold(0u32, |n, b| n.checked_mul(256).map(|n| n | u32::from(*b)))
        .filter(|n| (1..=10_000_000).contains(n))
        .ok_or_else(|| BAD.to_owned())?;
    let mut prf = ring::pbkdf2::PBKDF2_HMAC_SHA1;
    while !rest.is_empty() {
        let (tag, c, r) = tlv(rest)?;
        if tag == 0x30 {
            let (prf_oid, _) = expect(c, 0x06)?;
            prf = if prf_oid == HMAC_SHA256 {
                ring::pbkdf2::PBKDF2_HMAC_SHA256
            } else if prf_oid == HMAC_SHA1 {
                ring::pbkdf2::PBKDF2_HMAC_SHA1
            } else {
                return Err("the PKCS#12 file uses an unsupported PRF".to_owned());
            };
        }
        rest = r;
    }
    let (enc_oid, rest) = expect(scheme, 0x06)?;
    let (iv, _) = expect(rest, 0x04)?;
    let key_len = match enc_oid.strip_prefix(AES_PREFIX) {
        Some([0x02]) => 16,
        Some([0x16]) => 24,
        Some([0x2a]) => 32,
        _ => return Err("the PKCS#12 file uses an unsupported cipher".to_owned()),
    };
    let iterations = std::num::NonZeroU32::new(iterations).ok_or_else(|| BAD.to_owned())?;
    let mut key = Zeroizing::new(vec![0u8; key_len]);
    ring::pbkdf2::derive(prf, iterations, salt, password.as_bytes(), &mut key);
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let wrong = || {
        "cannot decrypt the PKCS#12 file: wrong AZURE_CLIENT_CERTIFICATE_PASSWORD, or the \
         file is damaged"
            .to_owned()
    };
    let n = match key_len {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, iv)
            .map_err(|_| BAD.to_owned())?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(|_| wrong())?
            .len(),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, iv)
            .map_err(|_| BAD.to_owned())?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(|_| wrong())?
            .len(),
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, iv)
            .map_err(|_| BAD.to_owned())?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map_err(|_| wrong())?
            .len(),
    };
    buf.truncate(n);
    // A wrong password can still yield valid padding: check it is DER.
    if tlv(&buf)
        .map(|(tag, _, rest)| tag != 0x30 || !rest.is_empty())
        .unwrap_or(true)
    {
        return Err(wrong());
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        for b in [
            &[][..],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x00],
        ] {
            assert!(parse(b, "x").is_err());
        }
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse(&b, "pw");
        }
    }
}
