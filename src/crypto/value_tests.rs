//! Unit tests of the `ENC[…]` value codec.

use super::*;

#[test]
fn sops_test_vector() {
    // From sops's aes/cipher_test.go: key "f"×32, AAD "bar:", plaintext "foo".
    let key = DataKey::from_slice(&[b'f'; 32]).expect("32 bytes");
    let enc = seal(&key, b"foo", b"bar:", ValueType::Str, None).expect("seal");
    let text = enc.render();
    let parsed = EncValue::parse(&text).expect("parse");
    assert_eq!(&open(&key, &parsed, b"bar:").expect("open")[..], b"foo");
    assert_eq!(
        open(&key, &parsed, b"baz:"),
        Err(CryptoError::Authentication)
    );
}

#[test]
fn same_iv_same_ciphertext() {
    let key = DataKey::generate().expect("rng");
    let a = seal(&key, b"v", b"k:", ValueType::Str, Some([7; 32])).expect("seal");
    let b = seal(&key, b"v", b"k:", ValueType::Str, Some([7; 32])).expect("seal");
    assert_eq!(a.render(), b.render());
    assert_eq!(
        a.render().len(),
        "ENC[AES256_GCM,data:dg==,iv:".len() + 44 + 5 + 24 + 10
    );
}

#[test]
fn seal_text_is_seal_then_render() {
    let key = DataKey::generate().expect("rng");
    let c = ValueCipher::new(&key);
    for len in [0usize, 1, 2, 3, 31, 255, 256, 257, 1000] {
        let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
        for typ in [ValueType::Str, ValueType::Comment, ValueType::Float] {
            let a = seal_text(&c, &plain, b"a:b:", typ, [9; 32]).expect("seal_text");
            let b = seal_with(&c, &plain, b"a:b:", typ, Some([9; 32]))
                .expect("seal")
                .render();
            assert_eq!(a, b, "{len} {typ:?}");
        }
    }
}

#[test]
fn seal_append_is_seal_text_after_what_is_there() {
    let key = DataKey::generate().expect("rng");
    let c = ValueCipher::new(&key);
    for len in [0usize, 1, 2, 3, 4, 31, 255, 256, 257, 1000] {
        let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        for typ in [
            ValueType::Str,
            ValueType::Int,
            ValueType::Bool,
            ValueType::Time,
        ] {
            let iv = [len as u8; 32];
            let want = seal_with(&c, &plain, b"x:y:", typ, Some(iv))
                .expect("seal")
                .render();
            let mut out = b"key: ".to_vec();
            out.reserve(sealed_len(len, typ));
            let cap = out.capacity();
            let span = seal_append(&c, &plain, b"x:y:", typ, iv, &mut out).expect("append");
            assert_eq!(out.capacity(), cap, "no growth after reserving sealed_len");
            assert_eq!(&out[..5], b"key: ");
            assert_eq!(std::str::from_utf8(&out[5..]).expect("utf8"), want);
            assert_eq!(span.len, want.len());
            assert_eq!(span.len, sealed_len(len, typ));
            let fields = EncValue::parse(&want).expect("parse");
            let data_b64 = want
                .strip_prefix(PREFIX)
                .and_then(|r| r.split(',').next())
                .expect("data");
            assert_eq!(span.data_len, data_b64.len());
            assert_eq!(
                &want[span.tag_at..span.tag_at + 24],
                STANDARD.encode(fields.tag)
            );
        }
    }
}

#[test]
fn malformed_values_are_rejected() {
    for bad in [
        "ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]",
        "ENC[AES256_GCM,data:AAAA,iv:",
        "ENC[AES256_GCM,data:!!!!,iv:AAAA,tag:AAAA,type:str]",
        "ENC[AES256_GCM,data:,iv:,tag:,type:nope]",
        "ENC[AES256_GCM,data:AAAA]",
    ] {
        assert!(EncValue::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn float_forms() {
    assert_eq!(format_float(5.0), "5");
    assert_eq!(format_float(-0.0), "-0");
    assert_eq!(format_float(1e21), "1000000000000000000000");
    assert_eq!(format_float(1e-7), "0.0000001");
    assert_eq!(format_float(f64::INFINITY), "+Inf");
    assert_eq!(format_float(f64::NAN), "NaN");
    assert_eq!(parse_go_float("+Inf"), Some(f64::INFINITY));
    assert_eq!(parse_go_float("1e5"), Some(1e5));
}
