/**
 * Envelope parsers fed mutated valid samples: open/openContent, inspect, recipientsOf and isRecipient on envelopes of
 * each recipient kind (P-256 and P-384 KARI, RSA KTRI, several recipients, signed content); verifyRecordSignature and
 * the SDK's verifyRecord on signed records; readGrant and the SDK's verifyGrant on grant statements. A refusal must be
 * a CertvaultError; an acceptance must give back bytes a valid sample held (damage never yields other plaintext).
 */
import fc from "fast-check";
import {
  inspect,
  isRecipient,
  openContent,
  readGrant,
  recipientsOf,
  verifyRecordSignature,
} from "../../../src/envelope/index.js";
import { verifyGrant, verifyRecord } from "../../../src/client-sdk/record-trust.js";
import type { TrustContext } from "../../../src/client-sdk/record-trust.js";
import { anchorsFromPem } from "../../../src/client-sdk/trust.js";
import { type FuzzTarget, PropertyViolation, refusedOr } from "../harness.js";
import { type Mutation, applyMutation, mutation } from "../mutate.js";
import { ADMIN, PLAINTEXTS, USER } from "../world.js";
import type { World } from "../world.js";

/** Mostly mutations of samples; sometimes bytes from nowhere. */
export type ByteSpec = { kind: "mutate"; m: Mutation } | { kind: "random"; bytes: Uint8Array };

export const byteSpec: fc.Arbitrary<ByteSpec> = fc.oneof(
  { weight: 9, arbitrary: mutation().map((m) => ({ kind: "mutate" as const, m })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }).map((bytes) => ({ kind: "random" as const, bytes })) },
);

export const fromSamples = (samples: readonly Uint8Array[], s: ByteSpec): Uint8Array =>
  s.kind === "random" ? s.bytes : applyMutation(samples, s.m);

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

function trustOf(world: World): TrustContext {
  return {
    anchors: anchorsFromPem(world.ca.rootPem + world.ca.intermediatePem),
    revoked: () => undefined,
    now: new Date(),
  };
}

export const envelopeTarget: FuzzTarget<ByteSpec> = {
  name: "envelope",
  arbitrary: byteSpec,
  shortRuns: 250,
  materialize: (w, s) => fromSamples(w.samples.envelopes, s),
  async check(world, env) {
    const known = [...PLAINTEXTS, ...world.samples.signed];
    const ids = await refusedOr("recipientsOf", () => recipientsOf(env));
    await refusedOr("inspect", () => inspect(env));
    for (const who of world.recipients) {
      await refusedOr("isRecipient", () => isRecipient(env, who.certPem));
      if (ids) await refusedOr("isRecipient(ids)", () => isRecipient(ids, who.certPem));
      const opened = await refusedOr("openContent", () => openContent(env, who.key, who.certPem));
      if (opened && !known.some((k) => same(k, opened.content)))
        throw new PropertyViolation(`openContent for ${who.name} returned bytes no sample held`);
    }
  },
};

export const signedTarget: FuzzTarget<ByteSpec> = {
  name: "signed-record",
  arbitrary: byteSpec,
  shortRuns: 200,
  materialize: (w, s) => fromSamples([...w.samples.signed, ...w.samples.grants], s),
  async check(world, bytes) {
    const sig = await refusedOr("verifyRecordSignature", () => verifyRecordSignature(bytes));
    const known = [...world.samples.signed, ...world.samples.grants].map((b) => verifyRecordSignature(b).content);
    if (sig && !known.some((k) => same(k, sig.content)))
      throw new PropertyViolation("verifyRecordSignature accepted content no sample held");
    const policy = {
      owner: USER,
      id: "0123456789abcdef0123456789abcdef",
      acceptServerSealed: true,
      acceptUnsigned: false,
    };
    const opened = await refusedOr("verifyRecord", () =>
      verifyRecord({ contentType: "signed-data", content: bytes }, policy, trustOf(world)),
    );
    if (opened && !same(opened.content, PLAINTEXTS[0] as Uint8Array))
      throw new PropertyViolation("verifyRecord believed content the owner never signed");
  },
};

export const grantTarget: FuzzTarget<ByteSpec> = {
  name: "grant",
  arbitrary: byteSpec,
  shortRuns: 150,
  materialize: (w, s) => fromSamples([...w.samples.grants, ...w.samples.signed], s),
  async check(world, bytes) {
    const g = await refusedOr("readGrant", () => readGrant(bytes));
    if (g && (g.owner !== USER || g.grantee !== ADMIN))
      throw new PropertyViolation(`readGrant accepted a statement for ${g.owner} -> ${g.grantee} that nobody signed`);
    await refusedOr("verifyGrant", () => verifyGrant(bytes, USER, "0123456789abcdef0123456789abcdef", trustOf(world)));
  },
};
