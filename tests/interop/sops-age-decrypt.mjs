// Decrypts sops files with the `sops-age` npm package, an independent JavaScript
// implementation of the sops format (age keys only), and prints every result as one JSON
// document on standard output. Driven by tests/interop_sops_age.rs.
//
// Usage: node sops-age-decrypt.mjs <install-prefix> <jobs.json>
//
//   <install-prefix>  directory holding node_modules/sops-age (installed with `npm ci` from
//                     tests/interop/package-lock.json)
//   <jobs.json>       {"secretKeyFile": "<age identity file>",
//                      "jobs": [{"name": "...", "path": "...", "fileType": "yaml|json|env",
//                                "keyFrom": "option|env"}]}
//
// keyFrom "option" passes the identity as `secretKey`; "env" lets sops-age find it itself
// (the test sets SOPS_AGE_KEY_FILE).
//
// Output: {"sopsAgeVersion": "...", "results": {"<name>": {"ok": true, "value": <data>} |
//                                                         {"ok": false, "error": "..."}}}
// Numbers that JSON cannot carry are written as {"$float": "NaN" | "Infinity" | "-Infinity"},
// byte arrays as {"$bytes": "<base64>"}.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [prefix, jobsPath] = process.argv.slice(2);
if (!prefix || !jobsPath) {
  process.stderr.write("usage: node sops-age-decrypt.mjs <install-prefix> <jobs.json>\n");
  process.exit(2);
}

// Resolve the package from the install prefix, not from this script's directory.
const requireFromPrefix = createRequire(join(prefix, "package.json"));
const { decryptSops } = requireFromPrefix("sops-age");
const { version } = JSON.parse(
  readFileSync(join(prefix, "node_modules", "sops-age", "package.json"), "utf8"),
);

const spec = JSON.parse(readFileSync(jobsPath, "utf8"));
const secretKey = readFileSync(spec.secretKeyFile, "utf8")
  .split("\n")
  .map((line) => line.trim())
  .find((line) => line.startsWith("AGE-SECRET-KEY-"));
if (!secretKey) {
  process.stderr.write("no AGE-SECRET-KEY- line in the identity file\n");
  process.exit(2);
}

function encode(value) {
  if (typeof value === "number" && !Number.isFinite(value)) {
    return { $float: String(value) };
  }
  if (value instanceof Uint8Array) {
    return { $bytes: Buffer.from(value).toString("base64") };
  }
  if (Array.isArray(value)) {
    return value.map(encode);
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  }
  return value;
}

const results = {};
for (const job of spec.jobs) {
  const options = { path: job.path, fileType: job.fileType };
  if (job.keyFrom !== "env") {
    options.secretKey = secretKey;
  }
  try {
    results[job.name] = { ok: true, value: encode(await decryptSops(options)) };
  } catch (err) {
    results[job.name] = { ok: false, error: String(err && err.message ? err.message : err) };
  }
}

process.stdout.write(JSON.stringify({ sopsAgeVersion: version, results }) + "\n");
