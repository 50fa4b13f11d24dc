/**
 * What signing costs per record (issue 15: sign-then-encrypt), side by side in one run, rounds interleaved:
 * - write: signRecord + seal(..., {contentType: "signed-data"}) against seal alone (the unsigned record);
 * - read: openContent + verifyRecordSignature against openContent alone;
 * for 1 KiB and 10 MiB records, one P-256 recipient, a P-256 signer and an RSA-3072 signer (RSASSA-PSS), both
 * client certificates of a throwaway CA (certvault/testing createTestCA). Each row prints both rates, the ratio and
 * the extra time per record: the median over rounds of (1/rate signed - 1/rate unsigned).
 * Then the SDK-level read of a 1 KiB record: client-sdk/record-trust.ts verifyRecord (signature, binding, signer's
 * chain to the pinned root, usages, CN, revocation on a verified CRL) with a real TrustContext, as
 * client-sdk/verifier.ts builds it, against openContent alone and openContent + verifyRecordSignature.
 * Run: node --import tsx bench/signing.ts, or `npm run bench -- signing`.
 */
import { createHash, randomBytes, sign, verify } from "node:crypto";
import { pathToFileURL } from "node:url";
import { openContent, seal, signRecord, verifyRecordSignature } from "../src/envelope/index.js";
import type { RecordSigner } from "../src/envelope/index.js";
import { x509 } from "../src/x509/x509.js";
import { RevocationList } from "../src/client-sdk/crl.js";
import { type TrustContext, verifyRecord } from "../src/client-sdk/record-trust.js";
import { MemoryTrustState } from "../src/client-sdk/trust-state.js";
import { anchorsFromPem } from "../src/client-sdk/trust.js";
import { type TestIdentity, createTestCA } from "../src/testing/index.js";
import { median } from "./stats.js";

const RUNS = 7;
const RUN_MS = 250;
const KIB = new Uint8Array(randomBytes(1024));
const BIG = new Uint8Array(randomBytes(10 * 1024 * 1024));
const OWNER = "alice";
const BINDING = { owner: OWNER, id: randomBytes(16).toString("hex") };

type Op = () => unknown;

const isPromise = (v: unknown): v is Promise<unknown> => typeof (v as { then?: unknown } | null)?.then === "function";

/** Calls per second of `fn` over RUN_MS; awaits only functions that return promises (no microtask in sync loops). */
async function rate(fn: Op, async: boolean): Promise<number> {
  const start = performance.now();
  let n = 0;
  if (async) {
    while (performance.now() - start < RUN_MS) {
      await fn();
      n++;
    }
  } else {
    while (performance.now() - start < RUN_MS) {
      fn();
      n++;
    }
  }
  return (n * 1000) / (performance.now() - start);
}

/** Per-round rates of each function, rounds interleaved so that machine noise hits all of them alike. */
async function rounds(fns: readonly Op[]): Promise<number[][]> {
  const async: boolean[] = [];
  for (const fn of fns) {
    const r = fn();
    async.push(isPromise(r));
    if (isPromise(r)) await r;
  }
  const out: number[][] = fns.map(() => []);
  for (let i = 0; i < RUNS; i++) {
    for (const [j, fn] of fns.entries()) out[j]!.push(await rate(fn, async[j]!));
  }
  return out;
}

interface Row {
  name: string;
  signed: number;
  plain: number;
  unit: "ops/s" | "MB/s";
  /** Median over rounds of the extra microseconds per record. */
  extraUs: number;
}

/** A row from per-round rates (ops/s) of the signed and the unsigned path. */
function row(name: string, signed: number[], plain: number[], bytes: number): Row {
  const extra = signed.map((s, i) => 1e6 / s - 1e6 / plain[i]!);
  const big = bytes >= 1024 * 1024;
  const scale = big ? bytes / 1e6 : 1;
  return {
    name,
    signed: median(signed) * scale,
    plain: median(plain) * scale,
    unit: big ? "MB/s" : "ops/s",
    extraUs: median(extra),
  };
}

const fmtUs = (us: number): string => (Math.abs(us) >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`);

function print(rows: readonly Row[]): void {
  console.log(`${"".padEnd(36)}${"signed".padStart(10)}${"unsigned".padStart(10)}  unit   ratio  extra per record`);
  for (const r of rows) {
    const fmt = (n: number) => (r.unit === "MB/s" ? n.toFixed(0) : Math.round(n).toString());
    console.log(
      `${r.name.padEnd(36)}${fmt(r.signed).padStart(10)}${fmt(r.plain).padStart(10)}  ${r.unit.padEnd(6)} ${((100 * r.signed) / r.plain).toFixed(0).padStart(4)}%  +${fmtUs(r.extraUs)}`,
    );
  }
}

export async function benchSigning(): Promise<void> {
  const ca = await createTestCA({ name: "certvault bench" });
  try {
    const [recipient, rsaSigner] = await Promise.all([
      ca.issueClient(OWNER),
      ca.issueClient(OWNER, { keyType: "rsa-3072" }),
    ]);
    const signerOf = (id: TestIdentity): RecordSigner => ({
      key: id.key,
      certificate: id.certPem,
      chain: [ca.intermediatePem],
    });
    const signers: [string, RecordSigner][] = [
      ["P-256", signerOf(recipient)],
      ["RSA-3072", signerOf(rsaSigner)],
    ];
    const to = [recipient.certPem];
    const rows: Row[] = [];
    const components: string[] = [];

    for (const [label, signer] of signers) {
      for (const [size, content] of [
        ["1 KiB", KIB],
        ["10 MiB", BIG],
      ] as const) {
        const envSigned = seal(signRecord(content, signer, BINDING), to, { contentType: "signed-data" });
        const envPlain = seal(content, to);
        const [ws, wp] = (await rounds([
          () => seal(signRecord(content, signer, BINDING), to, { contentType: "signed-data" }),
          () => seal(content, to),
        ])) as [number[], number[]];
        rows.push(row(`sign+seal ${size}, ${label} signer`, ws, wp, content.length));
        const [rs, rp] = (await rounds([
          () => verifyRecordSignature(openContent(envSigned, recipient.key, recipient.certPem).content),
          () => openContent(envPlain, recipient.key, recipient.certPem),
        ])) as [number[], number[]];
        rows.push(row(`open+verify ${size}, ${label} signer`, rs, rp, content.length));
      }
      // Where the 1 KiB extra goes: signRecord / verifyRecordSignature alone, against node's own hash + sign/verify.
      const sd = signRecord(KIB, signer, BINDING);
      const key = signer.key;
      const rsa = key.asymmetricKeyType === "rsa";
      const pss = { padding: 6, saltLength: 32 };
      const attrs = randomBytes(200); // about the size of the signed attributes
      const sig = sign("sha256", attrs, rsa ? { key, ...pss } : key);
      const pub = verifyRecordSignature(sd).signer.publicKey;
      const [a, b, c, d] = (await rounds([
        () => signRecord(KIB, signer, BINDING),
        () => verifyRecordSignature(sd),
        () => [createHash("sha256").update(KIB).digest(), sign("sha256", attrs, rsa ? { key, ...pss } : key)],
        () => [
          createHash("sha256").update(KIB).digest(),
          verify("sha256", attrs, rsa ? { key: pub, ...pss } : pub, sig),
        ],
      ])) as [number[], number[], number[], number[]];
      const us = (xs: number[]) => fmtUs(1e6 / median(xs));
      components.push(
        `${label} signer, 1 KiB: signRecord ${us(a)}, verifyRecordSignature ${us(b)}; bare node SHA-256 + sign ${us(c)}, + verify ${us(d)} (per call)`,
      );
    }

    console.log(
      `signing bench (median of ${RUNS} x ${RUN_MS} ms, interleaved), node ${process.version}, one P-256 recipient; signed = sign-then-encrypt, unsigned = seal/open alone`,
    );
    print(rows);
    for (const line of components) console.log(line);
    await sdkLevel(ca.rootPem, ca.intermediatePem, await ca.crl(), recipient, signers[0]![1]);
  } finally {
    await ca.cleanup();
  }
}

/** open + verifyRecord with the TrustContext the SDK's verifier builds (pinned anchors, verified CRL kept 5 s). */
async function sdkLevel(
  rootPem: string,
  intermediatePem: string,
  crlPem: string,
  recipient: TestIdentity,
  signer: RecordSigner,
): Promise<void> {
  const anchors = anchorsFromPem(`${rootPem}\n${intermediatePem}`);
  const crlDer = new Uint8Array(new x509.X509Crl(crlPem).rawData);
  const crl = new RevocationList(
    async () => crlDer,
    anchors,
    new MemoryTrustState(),
    () => new Date(),
  );
  const trust = async (): Promise<TrustContext> => ({ anchors, revoked: await crl.current(), now: new Date() });
  const policy = { owner: OWNER, id: BINDING.id, acceptServerSealed: false, acceptUnsigned: false };
  const envSigned = seal(signRecord(KIB, signer, BINDING), [recipient.certPem], { contentType: "signed-data" });
  const envPlain = seal(KIB, [recipient.certPem]);
  const opened = await verifyRecord(openContent(envSigned, recipient.key, recipient.certPem), policy, await trust());
  if (opened.kind !== "owner-signed" || opened.content.length !== KIB.length)
    throw new Error("bench: the SDK did not accept its own record");
  const [sdk, env, plain] = (await rounds([
    async () => verifyRecord(openContent(envSigned, recipient.key, recipient.certPem), policy, await trust()),
    () => verifyRecordSignature(openContent(envSigned, recipient.key, recipient.certPem).content),
    () => openContent(envPlain, recipient.key, recipient.certPem),
  ])) as [number[], number[], number[]];
  const sdkRow = row("open+verifyRecord 1 KiB, P-256 (SDK)", sdk, plain, KIB.length);
  const chain = median(sdk.map((s, i) => 1e6 / s - 1e6 / env[i]!));
  print([sdkRow]);
  console.log(
    `  of which the signer's chain, usages, CN and CRL checks (verifyRecord over verifyRecordSignature): +${fmtUs(chain)} per record`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchSigning();
}
