/**
 * PKI parsers fed mutated valid samples: the CA's CSR vetting (DER and PEM), certificate parsing (envelope/certs.ts
 * loadCertificate, the SDK's ca.pem and recipient paths), the SDK's CRL path, encrypted PKCS#8 key files (what the
 * CLI decrypts), and the anomaly-thresholds file the server reads through config/. Refusals must be CertvaultErrors.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { vetCsr } from "../../../src/ca/csr.js";
import { loadCertificate } from "../../../src/envelope/certs.js";
import { anchorsFromPem, parseCertificate, verifyRecipient } from "../../../src/client-sdk/trust.js";
import { RevocationList } from "../../../src/client-sdk/crl.js";
import { MemoryTrustState } from "../../../src/client-sdk/trust-state.js";
import { decryptPrivateKey } from "../../../src/keys/encrypted-pkcs8.js";
import { resolveServer } from "../../../src/config/index.js";
import { DEFAULT_THRESHOLDS } from "../../../src/anomaly/rules.js";
import { AsnConvert } from "@peculiar/asn1-schema";
import { EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { Pbes2Params, Pbkdf2Params } from "../../../src/keys/pbes2-asn1.js";
import { type FuzzTarget, PropertyViolation, refusedOr } from "../harness.js";
import { type ByteOp, type Mutation, applyMutation, byteOp, derOf, mutation, pem } from "../mutate.js";
import { USER } from "../world.js";

/** DER mutated (raw, or wrapped as PEM under the right or a wrong label), or the PEM text itself mutated. */
type PkiSpec = { kind: "der"; m: Mutation; wrap: string | null } | { kind: "text"; sample: number; ops: ByteOp[] };

const LABELS = [
  "CERTIFICATE",
  "CERTIFICATE REQUEST",
  "NEW CERTIFICATE REQUEST",
  "X509 CRL",
  "ENCRYPTED PRIVATE KEY",
  "PRIVATE KEY",
];

function pkiSpec(right: string): fc.Arbitrary<PkiSpec> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("der" as const),
        m: mutation(),
        wrap: fc.oneof({ weight: 3, arbitrary: fc.constant(right) }, fc.constant(null), fc.constantFrom(...LABELS)),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant("text" as const),
        sample: fc.nat(),
        ops: fc.array(byteOp, { minLength: 1, maxLength: 3 }),
      }),
    },
  );
}

function pkiBytes(der: readonly Uint8Array[], s: PkiSpec): Uint8Array {
  if (s.kind === "text")
    return applyMutation(
      der.map((d) => Buffer.from(pem(d, LABELS[s.sample % 3] ?? "CERTIFICATE"), "latin1")),
      { sample: s.sample, ops: s.ops },
    );
  const bytes = applyMutation(der, s.m);
  return s.wrap === null ? bytes : Buffer.from(pem(bytes, s.wrap), "latin1");
}

const latin1 = (b: Uint8Array): string => Buffer.from(b).toString("latin1");
const isPem = (b: Uint8Array): boolean => latin1(b.subarray(0, 64)).includes("-----BEGIN");

export const csrTarget: FuzzTarget<PkiSpec> = {
  name: "csr",
  arbitrary: pkiSpec("CERTIFICATE REQUEST"),
  shortRuns: 200,
  materialize: (w, s) => pkiBytes(w.samples.csrDer, s),
  async check(_world, bytes) {
    // Both ways the server and the CLI hand a CSR over: bytes, and text when it looks like PEM.
    for (const input of isPem(bytes) ? [bytes, latin1(bytes)] : [bytes]) {
      const v = await refusedOr("vetCsr", () => vetCsr(input));
      if (v && ![USER, "fuzz-rsa", "fuzz-p384"].includes(v.commonName))
        throw new PropertyViolation(`vetCsr accepted a CSR for "${v.commonName}" nobody signed`);
    }
  },
};

export const certificateTarget: FuzzTarget<PkiSpec> = {
  name: "certificate",
  arbitrary: pkiSpec("CERTIFICATE"),
  shortRuns: 200,
  materialize: (w, s) => pkiBytes(w.samples.certDer, s),
  async check(world, bytes) {
    const text = latin1(bytes);
    const cert = await refusedOr("loadCertificate(bytes)", () => loadCertificate(bytes));
    if (isPem(bytes)) await refusedOr("loadCertificate(text)", () => loadCertificate(text));
    // What envelope/certs.ts accepts, the SDK parses again with @peculiar/x509 (record-trust.ts): it must not throw raw.
    if (cert) await refusedOr("parseCertificate(der loadCertificate accepted)", () => parseCertificate(cert.der));
    // ca.pem as the SDK reads it, with the genuine root beside the damaged block (and alone).
    await refusedOr("anchorsFromPem", () => anchorsFromPem(text));
    await refusedOr("anchorsFromPem(root + damaged)", () => anchorsFromPem(world.ca.rootPem + text));
    const anchors = anchorsFromPem(world.ca.rootPem + world.ca.intermediatePem);
    await refusedOr("verifyRecipient", () => verifyRecipient(text, anchors, USER));
  },
};

export const crlTarget: FuzzTarget<PkiSpec> = {
  name: "crl",
  arbitrary: pkiSpec("X509 CRL").map((s) => (s.kind === "der" ? { ...s, wrap: null } : s)),
  shortRuns: 150,
  materialize: (w, s) => pkiBytes(w.samples.crlDer, s),
  async check(world, bytes) {
    const anchors = anchorsFromPem(world.ca.rootPem + world.ca.intermediatePem);
    const list = new RevocationList(
      async () => bytes,
      anchors,
      new MemoryTrustState(),
      () => new Date(),
    );
    const lookup = await refusedOr("RevocationList.current", () => list.current());
    if (lookup) await refusedOr("revocation lookup", () => lookup(parseCertificate(derOf(world.user.certPem))));
  },
};

/** Far above certvault's 600,000: a key file asking for more makes every open a denial of service. */
const MAX_ROUNDS = 10_000_000;

function iterationsOf(text: string): number {
  try {
    const info = AsnConvert.parse(derOf(text), EncryptedPrivateKeyInfo);
    const pbes2 = AsnConvert.parse(info.encryptionAlgorithm.parameters as ArrayBuffer, Pbes2Params);
    return AsnConvert.parse(pbes2.keyDerivationFunc.parameters as ArrayBuffer, Pbkdf2Params).iterationCount;
  } catch {
    return 0;
  }
}

/** An encrypted key file, mutated, opened with the right passphrase or another one. */
type KeySpec = { spec: PkiSpec; passphrase: string | null };

export const keyFileTarget: FuzzTarget<KeySpec> = {
  name: "key-file",
  arbitrary: fc.record({
    spec: pkiSpec("ENCRYPTED PRIVATE KEY"),
    passphrase: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, fc.string({ maxLength: 40 })),
  }),
  shortRuns: 150,
  materialize(w, s) {
    const pass = Buffer.from(s.passphrase ?? w.samples.keyPassphrase, "utf8");
    // First line: the passphrase (hex), then the key file: one byte string to save and replay.
    return Buffer.concat([Buffer.from(pass.toString("hex") + "\n"), pkiBytes(w.samples.keyPem.map(derOf), s.spec)]);
  },
  async check(_world, bytes) {
    const nl = bytes.indexOf(0x0a);
    const passphrase = Buffer.from(latin1(bytes.subarray(0, nl)), "hex").toString("utf8");
    const text = latin1(bytes.subarray(nl + 1));
    // PBKDF2 runs synchronously for as many rounds as the file says: judged before the call, which would not return.
    const rounds = iterationsOf(text);
    if (rounds > MAX_ROUNDS)
      throw new PropertyViolation(
        `decryptPrivateKey would run PBKDF2 for ${rounds} rounds (the file decides; nothing bounds it)`,
      );
    await refusedOr("decryptPrivateKey", () => decryptPrivateKey(text, passphrase));
  },
};

/** The anomaly thresholds file: JSON from nowhere, JSON near the real keys, mutated valid files, random bytes. */
const KEYS = [...Object.keys(DEFAULT_THRESHOLDS), "__proto__", "constructor", "toString", "hasOwnProperty", ""];
const RULE_KEYS = [...Object.keys(DEFAULT_THRESHOLDS.severity), "__proto__", "constructor", "toString", "valueOf"];
const nearValid = fc.dictionary(
  fc.constantFrom(...KEYS),
  fc.oneof(
    fc.jsonValue(),
    fc.dictionary(fc.constantFrom(...RULE_KEYS), fc.oneof(fc.constantFrom("medium", "high"), fc.jsonValue())),
  ),
  { maxKeys: 4 },
);
const VALID = Buffer.from(
  JSON.stringify({ distinctRecords: 50, notFound: 5, severity: { list_walk: "high", volume: "medium" } }),
);

export const anomalyConfigTarget: FuzzTarget<Uint8Array> = {
  name: "anomaly-config",
  arbitrary: fc.oneof(
    nearValid.map((v) => Buffer.from(JSON.stringify(v))),
    fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? "")),
    fc.array(byteOp, { minLength: 1, maxLength: 3 }).map((ops) => applyMutation([VALID], { sample: 0, ops })),
    fc.uint8Array({ maxLength: 200 }),
  ),
  shortRuns: 250,
  materialize: (_w, b) => new Uint8Array(b),
  async check(world, bytes) {
    const file = join(world.tmp, "anomaly.json");
    writeFileSync(file, bytes);
    const config = await refusedOr("resolveServer(--anomaly-config)", () =>
      resolveServer({ home: world.tmp, "anomaly-config": file }, {}),
    );
    if (!config) return;
    const t = config.anomaly as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(t)) {
      if (k === "severity") continue;
      if (!Object.hasOwn(DEFAULT_THRESHOLDS, k) || typeof v !== "number" || !(v > 0) || !Number.isFinite(v))
        throw new PropertyViolation(`accepted threshold ${k}=${JSON.stringify(v)}`);
    }
    for (const [rule, sev] of Object.entries(config.anomaly.severity)) {
      if (!Object.hasOwn(DEFAULT_THRESHOLDS.severity, rule) || (sev !== "medium" && sev !== "high"))
        throw new PropertyViolation(`accepted severity.${rule}=${JSON.stringify(sev)}`);
    }
    if (Object.getPrototypeOf(config.anomaly.severity) !== Object.prototype)
      throw new PropertyViolation("the severity table's prototype was replaced");
  },
};
