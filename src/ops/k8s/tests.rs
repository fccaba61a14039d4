//! Tests of the Secret view and the scalar renderer.

use super::*;

fn secret(data: &[(&str, &str)]) -> Document {
    let mut d = Map::new();
    for (k, v) in data {
        d.push(*k, Value::str(*v));
    }
    let mut m = Map::new();
    m.push("apiVersion", Value::str("v1"));
    m.push("kind", Value::str("Secret"));
    m.push("data", Value::Map(d));
    Document::single(m)
}

fn data(doc: &Document) -> &Map {
    match doc.branches[0].get("data") {
        Some(Value::Map(m)) => m,
        _ => panic!("no data"),
    }
}

#[test]
fn decode_then_encode_restores_unchanged_values_exactly() {
    // "aGk=" is "hi"; "%%" is not base64; "/w==" is the byte 0xff.
    let original = secret(&[("a", "aGk="), ("bad", "%%"), ("bin", "/w==")]);
    let mut view = original.clone();
    assert_eq!(decode(&mut view), 2);
    assert_eq!(data(&view).get("a"), Some(&Value::str("hi")));
    assert_eq!(data(&view).get("bad"), Some(&Value::str("%%")));
    assert!(matches!(data(&view).get("bin"), Some(Value::Bytes(_))));
    let mut back = view.clone();
    encode(&mut back, &original);
    assert_eq!(back, original);
    // A changed value and a new one are encoded.
    if let Some(Value::Map(d)) = view.branches[0].get_mut("data") {
        *d.get_mut("a").expect("a") = Value::str("hello");
        d.push("new", Value::str("x"));
    }
    encode(&mut view, &original);
    assert_eq!(data(&view).get("a"), Some(&Value::str("aGVsbG8=")));
    assert_eq!(data(&view).get("new"), Some(&Value::str("eA==")));
    assert_eq!(data(&view).get("bad"), Some(&Value::str("%%")));
}

#[test]
fn other_kinds_are_left_alone() {
    let mut doc = secret(&[("a", "aGk=")]);
    if let Some(Value::Str(k)) = doc.branches[0].get_mut("kind") {
        *k = "ConfigMap".into();
    }
    let before = doc.clone();
    assert_eq!(decode(&mut doc), 0);
    assert_eq!(doc, before);
}

mod scalar_tests {
    use super::scalar_string;
    use crate::tree::Value;

    /// The kustomize generator, exec-env and the dotenv/INI stores write a value the same
    /// way (they once disagreed on integral floats).
    #[test]
    fn every_renderer_agrees() {
        for (v, text) in [
            (Value::Float(5.0), "5.0"),
            (Value::Float(1e6), "1E+06"),
            (Value::Float(25.4), "25.4"),
            (Value::Int(5), "5"),
            (Value::Bool(true), "true"),
            (Value::Null, ""),
            (Value::str("x"), "x"),
        ] {
            let via_integrations = scalar_string(&v).expect("scalar");
            let via_stores = crate::format::flatten::render_scalar(&v).expect("scalar");
            assert_eq!(via_integrations.as_str(), text);
            assert_eq!(via_stores.as_str(), text);
        }
    }
}

mod resource_tests {
    use super::super::*;

    fn texts(p: &[(&str, &str)]) -> Vec<(String, Text)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), Text::new(*v)))
            .collect()
    }

    /// A Secret written as a resource reads back as the same plain data, in kubectl's
    /// field order.
    #[test]
    fn a_secret_round_trips_through_its_resource() {
        let s = Secret {
            name: "db".to_owned(),
            namespace: Some("prod".to_owned()),
            labels: vec![("app".to_owned(), "web".to_owned())],
            annotations: vec![("team".to_owned(), "core".to_owned())],
            type_: "Opaque".to_owned(),
            data: texts(&[("b", "eA=="), ("a", "eQ==")]),
            string_data: texts(&[("plain", "x")]),
        };
        let r = s.to_resource();
        assert_eq!(r.kind(), Some("Secret"));
        assert_eq!(r.name(), Some("db"));
        assert_eq!(r.namespace(), Some("prod"));
        assert_eq!(r.annotation("team"), Some("core"));
        let yaml = emit_resources(vec![r.clone()]).expect("emit");
        assert_eq!(
            std::str::from_utf8(&yaml).expect("utf8"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\n  labels:\n    app: web\n  annotations:\n    team: core\ntype: Opaque\ndata:\n  b: eA==\n  a: eQ==\nstringData:\n  plain: x\n"
        );
        let back = Secret::from_resource(&r).expect("a Secret");
        assert_eq!(back.name, "db");
        assert_eq!(back.labels, s.labels);
        assert_eq!(back.annotations, s.annotations);
        let pairs = |p: &[(String, Text)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.clone(), v.as_str().to_owned()))
                .collect()
        };
        assert_eq!(pairs(&back.data), pairs(&s.data));
        assert_eq!(pairs(&back.string_data), pairs(&s.string_data));
        // An empty `data` is still written; an empty `stringData` is not.
        let bare = Secret {
            name: "e".to_owned(),
            type_: "Opaque".to_owned(),
            ..Default::default()
        };
        let yaml = bare.to_resource().to_yaml().expect("emit");
        assert_eq!(
            std::str::from_utf8(&yaml).expect("utf8"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\ntype: Opaque\ndata: {}\n"
        );
    }

    /// A decrypted manifest's `stringData` (and an env file's entries) are rendered by the
    /// one scalar renderer: `5.0` stays `5.0`.
    #[test]
    fn manifest_and_env_values_use_the_one_renderer() {
        let rs = parse_resources(
            b"kind: Secret\nmetadata:\n  name: s\nstringData:\n  ratio: 5.0\n  n: 5\n  on: true\n  nested: {a: 1}\n---\nkind: ConfigMap\n",
        )
        .expect("parse");
        assert_eq!(rs.len(), 2);
        let s = Secret::from_resource(&rs[0]).expect("a Secret");
        let got: Vec<(&str, &str)> = s
            .string_data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, [("ratio", "5.0"), ("n", "5"), ("on", "true")]);
        assert!(Secret::from_resource(&rs[1]).is_none());
        let loaded = crate::format::Format::Yaml
            .store()
            .load(b"ratio: 5.0\nbig: 1e6\n")
            .expect("parse");
        let env = env_entries(&loaded.doc).expect("flat");
        let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, [("ratio", "5.0"), ("big", "1E+06")]);
        let nested = crate::format::Format::Yaml
            .store()
            .load(b"a: 1\nb: [1]\n")
            .expect("parse");
        assert_eq!(
            env_entries(&nested.doc),
            Err(NotFlat {
                key: "b".to_owned(),
                kind: "list"
            })
        );
    }

    #[test]
    fn fields_are_plain_data() {
        let r = &parse_resources(
            b"kind: K\nlist: [a, 2, {b: c}]\n# comment\nmap:\n  f: 5.0\n  t: true\n  n: null\n",
        )
        .expect("parse")[0];
        let f = r.fields();
        assert_eq!(f.str("kind"), Some("K"));
        assert_eq!(
            f.get("list"),
            Some(&Field::List(vec![
                Field::Str("a".to_owned()),
                Field::Scalar("2".to_owned()),
                Field::Map(Fields(vec![("b".to_owned(), Field::Str("c".to_owned()))])),
            ]))
        );
        let m = f.get("map").and_then(Field::as_map).expect("map");
        assert_eq!(m.get("f").and_then(Field::text).as_deref(), Some("5.0"));
        assert_eq!(m.get("t"), Some(&Field::Bool(true)));
        assert_eq!(m.get("t").and_then(Field::text).as_deref(), Some("true"));
        assert_eq!(m.get("n"), Some(&Field::Null));
        assert!(f.get("list").and_then(Field::text).is_none());
    }

    /// `append` extends a list, or replaces a field that is not one with a new list at the
    /// end (the KRM function's `items`).
    #[test]
    fn append_to_a_list() {
        let item = parse_resources(b"kind: A\n").expect("parse").remove(0);
        let mut list =
            parse_resources(b"kind: ResourceList\nitems:\n- kind: B\nfunctionConfig: {}\n")
                .expect("parse")
                .remove(0);
        list.append("items", vec![item.clone()]);
        let kinds: Vec<Option<String>> = list
            .children("items")
            .iter()
            .map(|r| r.kind().map(str::to_owned))
            .collect();
        assert_eq!(kinds, [Some("B".to_owned()), Some("A".to_owned())]);
        let mut bad = parse_resources(b"kind: ResourceList\nitems: x\nfunctionConfig: {}\n")
            .expect("parse")
            .remove(0);
        assert!(bad.children("items").is_empty());
        bad.append("items", vec![item]);
        assert_eq!(
            std::str::from_utf8(&bad.to_yaml().expect("emit")).expect("utf8"),
            "kind: ResourceList\nfunctionConfig: {}\nitems:\n  - kind: A\n"
        );
    }

    #[test]
    fn plaintext_of_binary_and_structured_files() {
        let bin = crate::format::Format::Binary
            .store()
            .load(b"raw \xff bytes")
            .expect("load");
        let out = plaintext_of(&bin.doc, crate::format::Format::Binary)
            .expect("emit")
            .expect("data");
        assert_eq!(&out[..], b"raw \xff bytes");
        assert!(
            plaintext_of(
                &crate::tree::Document::default(),
                crate::format::Format::Binary
            )
            .expect("emit")
            .is_none()
        );
        let json = crate::format::Format::Json
            .store()
            .load(b"{\"a\": 1}")
            .expect("load");
        let out = plaintext_of(&json.doc, crate::format::Format::Json)
            .expect("emit")
            .expect("text");
        assert_eq!(&out[..], b"{\n\t\"a\": 1\n}\n");
    }
}
