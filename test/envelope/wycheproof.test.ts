/**
 * Hostile originator keys from Project Wycheproof (../shared/wycheproof/wycheproof-ecdh-invalid.json, outside the
 * project, never copied in): each one placed as the ephemeral key of a KARI must be refused with
 * InvalidOriginatorKeyError. Skips, saying so, where the file is absent (a user's clone).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { InvalidOriginatorKeyError, DecryptionFailedError, open } from "../../src/envelope/index.js";
import { Fixtures, type Identity, bytes, thrown } from "./fixtures.js";
import { originatorWith, referenceSeal } from "./reference.js";

const VECTORS = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../../shared/wycheproof/wycheproof-ecdh-invalid.json",
);

interface Case {
  id: string;
  curve: "P-256" | "P-384";
  form: "ecpoint" | "spki";
  role: "hostile" | "valid-point";
  comment: string;
  flags: string[];
  public: string;
}

/** The originatorKey [1] TLV carrying the case's key: a bare point (no parameters), or the SPKI retagged. */
function originatorOf(c: Case): Uint8Array {
  const raw = Buffer.from(c.public, "hex");
  if (c.form === "ecpoint") return originatorWith(undefined, raw);
  const spki = Uint8Array.from(raw);
  spki[0] = 0xa1; // OriginatorPublicKey is SubjectPublicKeyInfo's shape with an implicit [1] tag
  return spki;
}

describe("envelope: Wycheproof invalid originator keys", function () {
  const cases: Case[] = existsSync(VECTORS)
    ? (JSON.parse(readFileSync(VECTORS, "utf8")) as { cases: Case[] }).cases
    : [];
  let fx: Fixtures;
  let who: Record<Case["curve"], Identity>;

  before(async function () {
    if (cases.length === 0) {
      console.log(`    (skipped: ${VECTORS} is absent; it lives outside the project)`);
      this.skip();
    }
    fx = await Fixtures.create();
    const { p256, p384 } = await fx.standard();
    who = { "P-256": p256, "P-384": p384 };
  });
  after(async () => fx?.cleanup());

  it("has hostile cases for both curves in both forms", function () {
    for (const curve of ["P-256", "P-384"]) {
      for (const form of ["ecpoint", "spki"]) {
        expect(
          cases.filter((c) => c.role === "hostile" && c.curve === curve && c.form === form).length,
        ).to.be.greaterThan(0);
      }
    }
  });

  // One test per vector, named after it: the refusal must be ours (typed), before any ECDH.
  for (const c of cases.filter((x) => x.role === "hostile")) {
    it(`wycheproof_invalid_originator_${c.id.replace(/-/g, "_")} (${c.comment || c.flags.join(",")})`, function () {
      const recipient = who[c.curve];
      const env = referenceSeal(bytes("x"), [recipient], { originator: () => originatorOf(c) });
      thrown(() => open(env, recipient.key, recipient.certPem), InvalidOriginatorKeyError);
    });
  }

  it("controls: a valid uncompressed point that is not the sender's fails decryption; compressed points are refused", function () {
    for (const c of cases.filter((x) => x.role === "valid-point")) {
      const recipient = who[c.curve];
      const env = referenceSeal(bytes("x"), [recipient], { originator: () => originatorOf(c) });
      const expected = c.public.startsWith("04") ? DecryptionFailedError : InvalidOriginatorKeyError;
      thrown(() => open(env, recipient.key, recipient.certPem), expected);
    }
  });
});
