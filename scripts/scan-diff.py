#!/usr/bin/env python3
"""Differential harness for the streamed YAML paths that read parts without a tree (the
decrypt's direct path and the splice's scan behind set, unset, edit and rotate).

  scan-diff.py prepare --seal BIN --dir DIR [--count N] [--seed S]
  scan-diff.py run --bin BIN --check BIN --dir DIR --out RESULTS.json
  scan-diff.py compare A.json B.json

`prepare` writes seeded random YAML documents, encrypts them with BIN (random indent and
selector) and adds tampered copies of each (indentation, trailing space, tab, a repeated,
dropped or moved line, values swapped between lines, a retyped value, a comment, a plain
value); the same encrypted files then serve both binaries. `run` runs every case under
LEAFSEAL_STREAM=require, LEAFSEAL_STREAM_DIRECT=require, LEAFSEAL_SPLICE=require with
tiny parts (LEAFSEAL_STREAM_PART) and also with the direct path on its default: decrypt,
set, unset, edit (the plaintext the editor was given is kept) and rotate, and records
the exit code, stdout, stderr and the written file (ENC texts not in the input masked to
their type, lastmodified masked) with the file decrypted again by the `--check` binary.
`compare` counts the cases and prints every one that differs (exit 1 if any).
"""

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile

AGE = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw"
KEYS = "/work/main/fixtures/sops/keys/age-test-keys.txt"
ENC = re.compile(r"ENC\[AES256_GCM,data:[^\],]*,iv:[^\],]*,tag:[^\],]*,type:([a-z]+)\]")

WORDS = ["alpha", "beta", "gamma", "db", "secret_key", "token", "url", "port", "name",
         "data", "x", "y", "long_one", "ñame", "key.with.dots", "k-1", "a b", "sops_x",
         "secret_unencrypted", "plain_unencrypted", "password", "list", "Id", "0"]
STRINGS = ["hello", "", " lead", "trail ", "multi\nline\ntext", "multi\nline\n", "yes",
           "null", "123", "1.5", "a: b", "- item", "# hash", "quote'd", 'dq"x', "tab\there",
           "ünïcödé", "😀 astral", "x" * 120, "line\n\nwith blank", "~", "true", "0x1f",
           "2024-01-01", "back\\slash", "{curly}", "[sq]", "@at", "`tick", "  \n  "]


SIMPLE_WORDS = ["alpha", "beta", "gamma", "db", "secret_key", "token", "url", "port", "name",
                "data", "x", "password", "list", "plain_unencrypted", "Id"]
SIMPLE_STRINGS = ["hello", "some words here", "v1", "https://example.com/x?y=1", "QmFzZTY0",
                  "user@example.com", "a-b_c.d", "ünïcödé"]
POOL = {"words": WORDS, "strings": STRINGS}


def rand_scalar(r):
    k = r.random()
    if k < 0.5:
        return r.choice(POOL["strings"])
    if k < 0.65:
        return r.randint(-10**12, 10**12)
    if k < 0.75:
        return r.choice([0.5, -3.25, 1e21, 2.0, 1e-7])
    if k < 0.85:
        return r.choice([True, False])
    if k < 0.9:
        # null stays in clear, which the direct paths decline: only in odd documents.
        return None if POOL["strings"] is STRINGS else "n"
    return r.choice([{}, []])


def rand_value(r, depth):
    k = r.random()
    if depth > 4 or k < 0.55:
        return rand_scalar(r)
    if k < 0.8:
        m = {}
        for _ in range(r.randint(1, 5)):
            m[r.choice(POOL["words"]) + ("" if r.random() < 0.7 else str(r.randint(0, 9)))] = \
                rand_value(r, depth + 1)
        return m
    return [rand_value(r, depth + 1) for _ in range(r.randint(1, 4))]


def yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if v == {}:
        return "{}"
    if v == []:
        return "[]"
    return json.dumps(v, ensure_ascii=False)


def dump(v, ind, out, r):
    """Block YAML with comments (JSON-quoted keys and strings)."""
    pad = " " * ind
    if isinstance(v, dict) and v:
        for k, x in v.items():
            if r.random() < 0.08:
                out.append(f"{pad}# comment {r.randint(0, 99)}")
            key = k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", k) else json.dumps(k)
            if isinstance(x, (dict, list)) and x:
                out.append(f"{pad}{key}:")
                dump(x, ind + 2, out, r)
            else:
                out.append(f"{pad}{key}: {yaml_scalar(x)}")
    elif isinstance(v, list) and v:
        for x in v:
            if isinstance(x, (dict, list)) and x:
                out.append(f"{pad}-")
                dump(x, ind + 2, out, r)
            else:
                out.append(f"{pad}- {yaml_scalar(x)}")


def document(r):
    """A document of simple keys and strings (which the direct paths take) or, for a
    third of them, of the odd ones too."""
    odd = r.random() < 0.3
    POOL["words"] = WORDS if odd else SIMPLE_WORDS
    POOL["strings"] = STRINGS if odd else SIMPLE_STRINGS
    top = {}
    for i in range(r.randint(1, 12)):
        top[f"{r.choice(POOL['words'])}{i}"] = rand_value(r, 0)
    out = []
    if r.random() < 0.3:
        out.append("# top comment")
    dump(top, 0, out, r)
    return "\n".join(out) + "\n", top


def paths(v, at):
    """Key paths (list of keys/indexes) of the scalars."""
    if isinstance(v, dict) and v:
        for k, x in v.items():
            yield from paths(x, at + [k])
    elif isinstance(v, list) and v:
        for i, x in enumerate(v):
            yield from paths(x, at + [i])
    else:
        yield at


def path_text(p):
    return "".join(f"[{json.dumps(s, ensure_ascii=False)}]" for s in p)


def tamper(r, text):
    lines = text.split("\n")[:-1]
    body = [i for i, l in enumerate(lines) if not l.startswith("sops:")]
    end = next((i for i, l in enumerate(lines) if l.startswith("sops:")), len(lines))
    body = [i for i in body if i < end]
    if not body:
        return None
    i = r.choice(body)
    kind = r.randrange(11)
    l = lines[i]
    if kind == 0:
        lines[i] = " " + l
    elif kind == 1:
        lines[i] = l[1:] if l.startswith(" ") else "  " + l
    elif kind == 2:
        lines[i] = l + " "
    elif kind == 3:
        lines[i] = l.replace(" ", "\t", 1)
    elif kind == 4:
        lines.insert(i, l)
    elif kind == 5:
        del lines[i]
    elif kind == 6:
        j = r.choice(body)
        a, b = ENC.search(lines[i]), ENC.search(lines[j])
        if not a or not b:
            return None
        lines[i] = lines[i][:a.start()] + b.group(0) + lines[i][a.end():]
    elif kind == 7:
        lines[i] = re.sub(r"type:[a-z]+\]", r.choice(["type:int]", "type:str]", "type:comment]",
                                                      "type:bool]", "type:bytes]"]), l, 1)
    elif kind == 8:
        ind = len(l) - len(l.lstrip(" "))
        lines.insert(i, " " * ind + r.choice(["# plain comment", "#ENC[AES256_GCM,data:x]"]))
    elif kind == 9:
        lines[i] = ENC.sub("plain", l, 1)
    else:
        j = r.choice(body)
        lines.insert(j, lines.pop(i))
    return "\n".join(lines) + "\n"


def prepare(args):
    r = random.Random(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    env = dict(os.environ, SOPS_AGE_KEY_FILE=KEYS)
    cases = []
    for n in range(args.count):
        plain, top = document(r)
        ps = [p for p in paths(top, []) if p]
        # (a file written with --indent 2 is not in the layout the decrypt writes
        # without a policy saying so: the direct paths decline it)
        opts = r.choice([[], [], [], [], ["--indent", "2"],
                         ["--unencrypted-suffix", "_unencrypted"],
                         ["--encrypted-regex", "^(secret|token|password|data)"]])
        src = os.path.join(args.dir, f"p{n}.yaml")
        with open(src, "w") as f:
            f.write(plain)
        res = subprocess.run([args.seal, "encrypt", "--age", AGE, *opts, src], env=env,
                             capture_output=True)
        os.unlink(src)
        if res.returncode != 0:
            continue
        enc = res.stdout.decode()
        variants = [enc] + [t for t in (tamper(r, enc) for _ in range(3)) if t]
        for v, text in enumerate(variants):
            name = f"c{n}-{v}.yaml"
            with open(os.path.join(args.dir, name), "w") as f:
                f.write(text)
            setp = path_text(r.choice(ps)) if ps else '["new"]'
            unsetp = path_text(r.choice(ps)) if ps else '["nothing"]'
            cases.append({"file": name, "set": setp, "value": json.dumps(r.choice(STRINGS)),
                          "unset": unsetp, "part": str(r.choice([1, 64, 200, 1000, 100000]))})
    with open(os.path.join(args.dir, "cases.json"), "w") as f:
        json.dump(cases, f, indent=0)
    print(f"{len(cases)} cases from {args.count} documents in {args.dir}")


def digest(b):
    return hashlib.sha256(b).hexdigest()[:16]


def masked(text, before):
    known = set(m.group(0) for m in ENC.finditer(before))
    t = ENC.sub(lambda m: m.group(0) if m.group(0) in known else f"ENC<{m.group(1)}>", text)
    # What changes with every write (the data key's wrapping on rotate, the time, the
    # record over new nonces) is masked; the check decrypt covers the MAC and the record.
    t = re.sub(r"(?s)(-----BEGIN AGE ENCRYPTED FILE-----\n).*?( *-----END)", r"\1\2", t)
    t = re.sub(r"leafseal_integrity: .*", "leafseal_integrity: X", t)
    return re.sub(r"lastmodified: .*", "lastmodified: X", t)


def run_case(args, c, base):
    """The runs of one case, in a directory of its own."""
    tmp = tempfile.mkdtemp(prefix="scan-diff-")
    side = os.path.join(tmp, "seen")
    editor = os.path.join(tmp, "ed.sh")
    with open(editor, "w") as f:
        f.write(f"#!/bin/sh\ncat \"$1\" > {side}\nsed -i '0,/: [a-z]/s/: \\([a-z]\\)/: Q\\1/' \"$1\"\n")
    os.chmod(editor, 0o755)
    with open(os.path.join(args.dir, c["file"])) as f:
        orig = f.read()
    results = {}
    for direct in ("require", "auto"):
        env = dict(base, LEAFSEAL_STREAM="require", LEAFSEAL_SPLICE="require",
                   LEAFSEAL_STREAM_PART=c["part"])
        if direct == "require":
            env["LEAFSEAL_STREAM_DIRECT"] = "require"
        cmds = {
            "decrypt": ["decrypt", None],
            "set": ["set", None, c["set"], c["value"]],
            "unset": ["unset", None, c["unset"]],
            "edit": ["edit", None],
            "rotate": ["rotate", "-i", None],
        }
        for name, argv in cmds.items():
            path = os.path.join(tmp, "f.yaml")
            with open(path, "w") as f:
                f.write(orig)
            if os.path.exists(side):
                os.unlink(side)
            argv = [path if a is None else a for a in argv]
            e = dict(env, EDITOR=editor) if name == "edit" else env
            res = subprocess.run([args.bin, *argv], env=e, capture_output=True)
            with open(path) as f:
                after = f.read()
            rec = {"rc": res.returncode,
                   "out": digest(res.stdout),
                   "err": res.stderr.decode(errors="replace").replace(tmp, "TMP")}
            if after != orig:
                rec["file"] = masked(after, orig)
                chk = subprocess.run([args.check, "decrypt", path], env=base,
                                     capture_output=True)
                rec["file_plain"] = [chk.returncode, digest(chk.stdout)]
            if os.path.exists(side):
                with open(side, "rb") as f:
                    rec["editor_saw"] = digest(f.read())
            results[f"{c['file']} {direct} {name}"] = rec
    subprocess.run(["rm", "-rf", tmp])
    return results


def run(args):
    from concurrent.futures import ThreadPoolExecutor
    with open(os.path.join(args.dir, "cases.json")) as f:
        cases = json.load(f)
    base = dict(os.environ, SOPS_AGE_KEY_FILE=KEYS)
    for k in ("LEAFSEAL_STREAM", "LEAFSEAL_STREAM_DIRECT", "LEAFSEAL_SPLICE",
              "LEAFSEAL_STREAM_PART"):
        base.pop(k, None)
    results = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        for r in pool.map(lambda c: run_case(args, c, base), cases):
            results.update(r)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=0, sort_keys=True)
    rcs = {}
    for v in results.values():
        rcs[v["rc"]] = rcs.get(v["rc"], 0) + 1
    print(f"{len(results)} runs over {len(cases)} cases; exit codes {sorted(rcs.items())}")


def compare(args):
    with open(args.a) as f:
        a = json.load(f)
    with open(args.b) as f:
        b = json.load(f)
    diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    for k in diff[:20]:
        print(k, "\n  A:", json.dumps(a.get(k))[:600], "\n  B:", json.dumps(b.get(k))[:600])
    print(f"{len(a)} / {len(b)} runs; {len(diff)} differ")
    return 1 if diff else 0


def main():
    import argparse
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("prepare")
    q.add_argument("--seal", required=True)
    q.add_argument("--dir", required=True)
    q.add_argument("--count", type=int, default=200)
    q.add_argument("--seed", type=int, default=1)
    q = sub.add_parser("run")
    q.add_argument("--bin", required=True)
    q.add_argument("--check", required=True)
    q.add_argument("--dir", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--jobs", type=int, default=3)
    q = sub.add_parser("compare")
    q.add_argument("a")
    q.add_argument("b")
    args = p.parse_args()
    return {"prepare": prepare, "run": run, "compare": compare}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
