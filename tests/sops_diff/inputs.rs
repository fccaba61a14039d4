//! Plaintext inputs shared by the differential cases.

/// (file name, content) pairs: every format and the YAML/JSON features issue #12 lists.
pub const INPUTS: &[(&str, &str)] = &[
    (
        "comments.yaml",
        "# top comment\n# second line\nkey: value # inline\nmap:\n  # head of a\n  a: 1\n  b: two # after b\n  # foot of map\nlist:\n  # head of list\n  - a # inline on item\n  # between\n  - b\n  # foot of list\nnested:\n  - x: 1\n    # in map in list\n    y: 2\n  # after map item\n  - z\n# final comment\n",
    ),
    (
        "scalars.yaml",
        "plain: hello world\nsingle: 'it''s'\ndouble: \"tab\\there \\u00e9\"\nint: 42\nneg: -7\nhex: 0x1F\noctal: 0o17\nfloat: 3.25\nexp: 1e3\ninf: .inf\nnan: .nan\nbool_t: true\nbool_f: false\nyes_str: yes\nnull_v: null\ntilde: ~\nquoted_num: \"123\"\nquoted_bool: 'true'\nts: 2024-01-02T03:04:05Z\ndate: 2024-01-02\nunicode: \"日本語 ✓\"\ncolon: \"a: b\"\nhash: \"a #b\"\nlead_space: \" x\"\nempty_str: \"\"\nempty_plain:\nempty_list: []\nempty_map: {}\n\"key with spaces\": v\n\"2024\": numeric key\n",
    ),
    (
        "blocks.yaml",
        "literal: |\n  line one\n  line two\nstrip: |-\n  no final newline\nkeep: |+\n  kept\n\nfolded: >\n  folded text\n  continues here\nfolded_strip: >-\n  a\n  b\nindented: |2\n    starts with spaces\nlist:\n  - |\n    in a list\n  - >\n    folded in list\n",
    ),
    (
        "anchors.yaml",
        "base: &base\n  user: admin\n  pass: s3cret\nother:\n  <<: *base\n  pass: override\nref: *base\nscalar: &s val\nscalar_ref: *s\n",
    ),
    (
        "multi.yaml",
        "# doc one\na: 1\nb: [x, y]\n---\n# doc two\nc: three\nd:\n  e: f\n---\ng: h\n",
    ),
    (
        "flow.yaml",
        "flow_map: {a: 1, b: [2, 3]}\nflow_seq: [a, {b: c}]\n",
    ),
    (
        "seq_root_items.yaml",
        "items:\n  - - nested\n    - list\n  - - 1\n    - 2\n  -\n    k: v\n  - null\n  - ''\n",
    ),
    (
        "values.json",
        "{\n  \"int\": 1,\n  \"neg\": -2,\n  \"float\": 1.5,\n  \"exp\": 1e10,\n  \"exp2\": 2.5E-3,\n  \"zero_frac\": 1.0,\n  \"t\": true,\n  \"f\": false,\n  \"n\": null,\n  \"str\": \"x\",\n  \"esc\": \"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\/\",\n  \"ctl\": \"\\u0001\\u001f\",\n  \"html\": \"<&>\",\n  \"ls\": \"\\u2028\",\n  \"empty_obj\": {},\n  \"empty_arr\": [],\n  \"arr\": [1, \"two\", [3], {\"four\": 4}, null],\n  \"nested\": {\"a\": {\"b\": {\"c\": \"d\"}}},\n  \"ключ\": \"значение\",\n  \"a:b\": \"colon key\"\n}\n",
    ),
    (
        "compact.json",
        "{\"a\":1,\"b\":[true,false],\"c\":{\"d\":\"e\"}}",
    ),
    (
        "app.env",
        "# a comment\nDB_USER=admin\nDB_PASS=p@ss=word#1\nEMPTY=\nQUOTED=\"q v\"\nMULTI=line1\\nline2\nPUBLIC_unencrypted=visible\n\n# another\nLAST=end\n",
    ),
    (
        "app.ini",
        "; top comment\n[database]\nuser = admin\npassword = s3cret\n; section comment\nport = 5432\n\n[empty]\n\n[other]\nkey = value with spaces\nflag = true\n",
    ),
    (
        "x-str.yaml",
        "a: \"line1\\nline2\"\nb: \"trailing \\n\"\nc: \" lead\"\nd: \"x\\ty\"\ne: \"\\u0001\"\nf: \"€\"\ng: \"- dash\"\nh: \"@at\"\ni: \"`tick\"\nj: \"%pct\"\nk: \"{brace}\"\nl: \"key: val\"\nm: \"#hash\"\nn: \"*star\"\no: \"&amp\"\np: \"!bang\"\nq: \"|pipe\"\nr: \">gt\"\ns: \"'q'\"\nt: \"\\\"dq\\\"\"\nu: \"null\"\nv: \"~\"\nw: \"1_000\"\nx: \"0x1F\"\ny: \"1e3\"\nz: \".5\"\naa: \"+1\"\nab: \"Yes\"\nac: \"off\"\nad: \"2024-01-01\"\nae: \"12:30\"\naf: \"=eq\"\nag: \"a\\rb\"\nah: \"   \"\nai: \"very long string that goes on and on and on and on and on and on and on and on and on and on and on and on\"\n",
    ),
    (
        "x-tags.yaml",
        "a: !!str 123\nb: !!int \"42\"\nc: !!binary aGVsbG8=\nd: !custom tagged\ne: !!float 1\n",
    ),
    ("x-blank.yaml", "a: 1\n\n\nb: 2\n"),
    ("x-compactseq.yaml", "a:\n- x\n- y\nb:\n  - - p\n    - q\n"),
    ("x-crlf.yaml", "k: v\r\nk2: v2\r\n"),
    ("x-bom.yaml", "\u{feff}a: bom\n"),
    ("x-docend.yaml", "a: 1\n...\n"),
    ("x-emptyc.yaml", "a: {}\nb: []\n"),
    (
        "x-e1.env",
        "export A=1\nB = 2\n C=3\nD=\"quoted\"\nE='single'\n#c\n\nF=a b c\n",
    ),
    (
        "x-i1.ini",
        "[s]\nk=v\nk2 = v2 ; comment\n# hash comment\nmulti = a\\\n  b\n[s2]\nq=\"quoted\"\n",
    ),
    ("x-i2.ini", "top = 1\n[s]\nk = v\n"),
    (
        "x-n.json",
        "{\"a\": 1.0, \"b\": 1e2, \"d\": 0.1, \"f\": 1e-7}\n",
    ),
    (
        "x-esc.json",
        "{\"a\": \"\\u003c\", \"b\": \"\\ud83d\\ude00\", \"c\": \"\\/\", \"d\": \"\\b\\f\"}\n",
    ),
    ("x-emptyc.json", "{\"a\": {}, \"b\": []}\n"),
    ("x-empty.json", "{}"),
];

/// A nested YAML document of the given depth.
pub fn deep_yaml(depth: usize) -> String {
    let mut s = String::new();
    for i in 0..depth {
        s.push_str(&"  ".repeat(i));
        s.push_str(&format!("level{i}:\n"));
    }
    s.push_str(&"  ".repeat(depth));
    s.push_str("leaf: bottom\n");
    s
}

/// A file for the partial-encryption settings: key names, suffixes and comments that
/// every selector can pick from.
pub const SELECTOR_YAML: &str = "# sops:enc\npassword: hunter2\nuser_plain: alice\nuser_secret: bob\npublic_key: pk\ndata:\n  token: t0k\n  nested_plain:\n    x: 1\n# sops:clear\nclear_me: visible\nlist:\n  - a\n  # sops:enc\n  - b\nport: 8080\n";

pub const SELECTOR_JSON: &str = "{\"password\": \"hunter2\", \"user_plain\": \"alice\", \"user_secret\": \"bob\", \"public_key\": \"pk\", \"data\": {\"token\": \"t0k\", \"nested_plain\": {\"x\": 1}}, \"port\": 8080}\n";

pub const SELECTOR_ENV: &str =
    "password=hunter2\nuser_plain=alice\nuser_secret=bob\npublic_key=pk\ndata=t0k\n";

pub const SELECTOR_INI: &str = "[main]\npassword = hunter2\nuser_plain = alice\nuser_secret = bob\npublic_key = pk\n[data]\ntoken = t0k\n";

/// The partial-encryption settings: label and the creation-rule lines (sops 3.11 has no
/// command-line flags for `mac_only_encrypted` and the comment regexes, so every setting
/// comes from a `.sops.yaml` given with `--config`).
pub const SELECTORS: &[(&str, &str)] = &[
    ("default", ""),
    ("unencrypted_suffix", "unencrypted_suffix: _plain"),
    ("encrypted_suffix", "encrypted_suffix: _secret"),
    ("unencrypted_regex", "unencrypted_regex: '^(public|port)'"),
    ("encrypted_regex", "encrypted_regex: '^(password|data)$'"),
    (
        "mac_only_encrypted",
        "mac_only_encrypted: true\n    unencrypted_suffix: _plain",
    ),
    (
        "unencrypted_comment_regex",
        "unencrypted_comment_regex: 'sops:clear'",
    ),
    (
        "encrypted_comment_regex",
        "encrypted_comment_regex: 'sops:enc'",
    ),
];

/// A `.sops.yaml` with one catch-all rule for the age test recipient plus `rule` lines,
/// and `stores` lines.
pub fn policy(rule: &str, stores: &str) -> String {
    let mut s = String::new();
    if !stores.is_empty() {
        s.push_str("stores:\n");
        s.push_str(stores);
        s.push('\n');
    }
    s.push_str("creation_rules:\n  - age: ");
    s.push_str(crate::support::AGE_RECIPIENT);
    s.push('\n');
    if !rule.is_empty() {
        s.push_str("    ");
        s.push_str(rule);
        s.push('\n');
    }
    s
}
