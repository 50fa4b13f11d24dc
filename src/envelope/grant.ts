/**
 * A grant statement: the owner's signature that a record may be sealed to another identity. It is a signed record
 * (signed.ts) whose binding names the owner and the record and whose content is the JSON
 * `{"type":"certvault-grant","v":1,"grantee":NAME}`, so `openssl cms -verify` reads it too. The SDK seals to a
 * grantee only on a statement whose signer it trusts as the owner (client-sdk/record-trust.ts); the server only
 * stores it, and checks that it parses and names what the request names.
 */
import { EnvelopeUsageError, MalformedEnvelopeError } from "./errors.js";
import { type RecordSigner, signRecord } from "./signed.js";
import { type VerifiedRecordSignature, verifyRecordSignature } from "./signed-verify.js";

export const GRANT_TYPE = "certvault-grant";
/** A statement is a few KiB (two certificates and a signature); anything much larger is not one. */
export const MAX_GRANT_BYTES = 32 * 1024;

export interface Grant {
  readonly owner: string;
  readonly id: string;
  readonly grantee: string;
  readonly signature: VerifiedRecordSignature;
}

export function signGrant(
  signer: RecordSigner,
  p: { owner: string; id: string; grantee: string },
  opts: { now?: Date } = {},
): Uint8Array {
  if (typeof p.grantee !== "string" || p.grantee === "") throw new EnvelopeUsageError("a grant names its grantee");
  const content = new TextEncoder().encode(JSON.stringify({ type: GRANT_TYPE, v: 1, grantee: p.grantee }));
  return signRecord(content, signer, { owner: p.owner, id: p.id }, { ...opts, purpose: "grant" });
}

/** Parses a statement and checks its signature (not whether to believe the signer). */
export function readGrant(statement: Uint8Array): Grant {
  if (!(statement instanceof Uint8Array) || statement.length > MAX_GRANT_BYTES)
    throw new MalformedEnvelopeError("not a grant statement");
  const signature = verifyRecordSignature(statement);
  if (signature.purpose !== "grant") throw new MalformedEnvelopeError("not a grant statement (a record's signature)");
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(signature.content));
  } catch {
    throw new MalformedEnvelopeError("a grant statement's content is not JSON");
  }
  const b = body as { type?: unknown; v?: unknown; grantee?: unknown };
  if (
    typeof body !== "object" ||
    body === null ||
    Object.keys(body).length !== 3 ||
    b.type !== GRANT_TYPE ||
    b.v !== 1 ||
    typeof b.grantee !== "string"
  ) {
    throw new MalformedEnvelopeError("not a grant statement");
  }
  return { owner: signature.binding.owner, id: signature.binding.id, grantee: b.grantee, signature };
}
