/** The hash chain alone: every way of changing the stored sequence is named at the first entry it touches. */
import { expect } from "chai";
import fc from "fast-check";
import { generateKeyPairSync } from "node:crypto";
import { GENESIS_HASH, link, verifyChain } from "../../src/audit/chain.js";
import type { AuditEntry, AuditEvent } from "../../src/audit/chain.js";
import { checkpointVerifier, signCheckpoint } from "../../src/audit/audit-key.js";

const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const check = checkpointVerifier(keys.publicKey);

function events(n: number): AuditEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    time: new Date(Date.UTC(2026, 10, 23) + i * 1000),
    actor: `user${i % 3}`,
    serial: "1a2b",
    source: "127.0.0.1",
    action: i % 2 ? "records.get" : "me",
    recordId: i % 2 ? `r${i}` : null,
    status: 200,
    requestId: `req-${i}`,
    detail: i === 3 ? { code: "not_found", n: 1 } : null,
  }));
}

describe("audit: hash chain", function () {
  const chain = link(events(10), 0, GENESIS_HASH);
  const cp = signCheckpoint(keys.privateKey, 8, (chain[7] as AuditEntry).hash, new Date());

  it("an untouched chain verifies, with its checkpoint", function () {
    expect(verifyChain(chain, [cp], check)).to.deep.equal({ ok: true, entries: 10, checkpoints: 1 });
  });

  it("links onto an existing tail", function () {
    const more = link(events(2), 10, (chain[9] as AuditEntry).hash);
    expect(more[0]?.seq).to.equal(11);
    expect(verifyChain([...chain, ...more], [cp], check).ok).to.equal(true);
  });

  it("an edited field is named", function () {
    const bad = chain.map((e) => (e.seq === 4 ? { ...e, status: 404 } : e));
    expect(verifyChain(bad, [cp], check)).to.include({ ok: false, seq: 4 });
    const bad2 = chain.map((e) => (e.seq === 4 ? { ...e, detail: { code: "not_found", n: 2 } } : e));
    expect(verifyChain(bad2, [cp], check)).to.include({ ok: false, seq: 4 });
  });

  it("a deleted entry is named", function () {
    const r = verifyChain(
      chain.filter((e) => e.seq !== 6),
      [cp],
      check,
    );
    expect(r).to.include({ ok: false, seq: 6 });
  });

  it("two swapped entries are named at the first", function () {
    const swapped = chain.map((e) =>
      e.seq === 3 ? { ...(chain[6] as AuditEntry), seq: 3 } : e.seq === 7 ? { ...(chain[2] as AuditEntry), seq: 7 } : e,
    );
    expect(verifyChain(swapped, [cp], check)).to.include({ ok: false, seq: 3 });
  });

  it("a chain rewritten from entry 5 on, hashes recomputed, is caught by the signed checkpoint", function () {
    const rewritten = [
      ...chain.slice(0, 4),
      ...link(
        events(6).map((e) => ({ ...e, actor: "nobody" })),
        4,
        (chain[3] as AuditEntry).hash,
      ),
    ];
    expect(verifyChain(rewritten, [], check).ok, "the chain alone cannot tell").to.equal(true);
    expect(verifyChain(rewritten, [cp], check)).to.include({ ok: false, seq: 8 });
  });

  it("a tail truncated past the last checkpoint is named at the first missing entry", function () {
    expect(verifyChain(chain.slice(0, 5), [cp], check)).to.include({ ok: false, seq: 6 });
  });

  it("a forged checkpoint (signed by another key) is refused", function () {
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const forged = signCheckpoint(other.privateKey, 10, (chain[9] as AuditEntry).hash, new Date());
    expect(verifyChain(chain, [forged], check)).to.include({ ok: false, seq: 10 });
  });

  it("checkpoints and entries both deleted from the database: the anchor kept outside still catches it", function () {
    const anchor = { seq: 10, hash: (chain[9] as AuditEntry).hash };
    expect(verifyChain(chain.slice(0, 7), [], check, anchor)).to.include({ ok: false, seq: 8 });
  });

  it("property: changing any one field of any one entry is detected at that entry", function () {
    const fields = ["actor", "action", "recordId", "source", "requestId", "serial"] as const;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.constantFrom(...fields),
        fc.string({ minLength: 1, maxLength: 8 }),
        (seq, field, value) => {
          const original = chain[seq - 1] as AuditEntry;
          fc.pre(original[field] !== value);
          const bad = chain.map((e) => (e.seq === seq ? { ...e, [field]: value } : e));
          expect(verifyChain(bad, [], check)).to.include({ ok: false, seq });
        },
      ),
    );
  });
});
