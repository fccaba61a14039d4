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
    for (text, want) in [
        ("-inf", Some(f64::NEG_INFINITY)),
        ("+INFINITY", Some(f64::INFINITY)),
        ("infinity", Some(f64::INFINITY)),
        ("1.5E-3", Some(1.5e-3)),
        ("-0", Some(-0.0)),
        ("0x10", None),
        ("infinit", None),
        ("1_0", None),
        ("", None),
    ] {
        assert_eq!(parse_go_float(text), want, "{text:?}");
    }
    assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
    assert!(parse_go_float("-nan").is_some_and(f64::is_nan));
}

/// The MAC input of numbers and booleans, written on the stack, is the heap form's bytes
/// (and forms too long for the stack fall back to it).
#[test]
fn stack_plaintext_forms_are_the_heap_forms() {
    let mut values = vec![
        Value::Bool(true),
        Value::Bool(false),
        Value::Int(0),
        Value::Int(i64::MIN),
        Value::Int(i64::MAX),
        Value::Float(0.0),
        Value::Float(-0.0),
        Value::Float(f64::MAX),
        Value::Float(f64::MIN_POSITIVE),
        Value::Float(5e-324),
        Value::Float(1e21),
        Value::Float(1.0 / 3.0),
        Value::Float(-123_456.789),
        Value::Float(f64::NAN),
        Value::Float(f64::INFINITY),
        Value::Float(f64::NEG_INFINITY),
        Value::Str(Text::from("x")),
        Value::Time(Timestamp::parse_rfc3339("2024-01-02T03:04:05.5Z").expect("time")),
    ];
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        values.push(Value::Float(f64::from_bits(x)));
        values.push(Value::Int(x as i64));
        values.push(Value::Float((x % 1_000_000) as f64 / 1000.0));
    }
    for v in &values {
        let stack = with_plaintext(v, |p, t| (p.to_vec(), t));
        let heap = plaintext_of(v).map(|(p, t)| (p.to_vec(), t));
        assert_eq!(stack, heap, "{v:?}");
    }
}

#[test]
fn parse_usual_gives_what_parse_gives() {
    let key = DataKey::generate().expect("rng");
    let iv = "glhVD3gJDX05dhl/Uid1wDWBiil/7K96Pp6JoTN93Ig=";
    let tag = "Cla8P05sq3P708JxOcWTBw==";
    let mut texts: Vec<String> = [("", ValueType::Str), ("abc", ValueType::Int)]
        .iter()
        .map(|(plain, typ)| {
            seal(&key, plain.as_bytes(), b"k:", *typ, None)
                .expect("seal")
                .render()
        })
        .collect();
    // Misplaced or misnamed fields, other types, text after the bracket: the
    // positions do not fit, and the text is parsed as any other.
    for typ in ["str", "int", "comment", "nope", "str]x", "str]]"] {
        texts.push(format!(
            "ENC[AES256_GCM,data:0Q==,iv:{iv},tag:{tag},type:{typ}]"
        ));
    }
    texts.push(format!(
        "ENC[AES256_GCM,data:0Q==,iv:{iv}A,tag:{tag},type:str]"
    ));
    texts.push(format!(
        "ENC[AES256_GCM,data:0Q==,iv:{iv},tag:{tag},tipe:str]"
    ));
    texts.push(format!(
        "ENC[AES256_GCM,data:0Q==,iv:{iv},tag:{tag},type:str"
    ));
    texts.push(String::new());
    for text in &texts {
        let data_len = text
            .strip_prefix("ENC[AES256_GCM,data:")
            .and_then(|rest| rest.find(','))
            .unwrap_or(0);
        let usual = EncFields::parse_usual(text, data_len);
        let any = EncFields::parse(text);
        match (&usual, &any) {
            (Ok(u), Ok(a)) => {
                assert_eq!(
                    (u.data, u.iv, u.tag, u.typ, u.tag_text),
                    (a.data, a.iv, a.tag, a.typ, a.tag_text),
                    "{text}"
                );
            }
            (Err(u), Err(a)) => assert_eq!(u, a, "{text}"),
            _ => panic!("{text}: {usual:?} against {any:?}"),
        }
    }
}

/// Not a test: `cargo test --release --lib crypto::value::tests::timing -- --ignored
/// --nocapture` prints ns per `ENC[…]` string of a corpus-like value parsed (its fields
/// found and the IV and tag decoded), decoded and opened, as the decrypt's scan does.
#[test]
#[ignore]
#[allow(clippy::disallowed_macros)] // test output
fn timing() {
    use std::time::Instant;
    let key = DataKey::from_slice(&[3u8; 32]).expect("32 bytes");
    let cipher = ValueCipher::new(&key);
    let aad = b"services:infra-basalt-00000:image:registry:";
    for len in [8usize, 22, 60] {
        let texts: Vec<String> = (0..64u8)
            .map(|i| seal_text(&cipher, &vec![b'x'; len], aad, ValueType::Str, [i; 32]).unwrap())
            .collect();
        let data_len = len.div_ceil(3) * 4;
        let mut buf = Zeroizing::new(Vec::new());
        for round in 0..3 {
            let t = Instant::now();
            for _ in 0..20_000 {
                for s in &texts {
                    let f = EncFields::parse_usual(s, data_len).unwrap();
                    f.open_into(&cipher, aad, &mut buf).unwrap();
                }
            }
            let ns = t.elapsed().as_nanos() as f64 / (20_000.0 * 64.0);
            println!("len {len} round {round}: {ns:.1} ns per value");
        }
    }
}
