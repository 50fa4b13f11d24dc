/**
 * Whether to believe what was opened: a record's content is returned only when its signature verifies, the signer is
 * its owner (a client certificate of that identity) or, if the caller accepts it, the server (a server certificate
 * of our CA: a plaintext upload the server sealed), the signer's certificate chains to the pinned root and was valid
 * and unrevoked when it signed, and the signature binds the record to the owner and id it was asked for. Grants are
 * believed on the same terms, signed by the owner. Everything else is a typed error and no bytes.
 */
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { type ContentKind, type Grant, readGrant, verifyRecordSignature } from "../envelope/index.js";
import type { VerifiedRecordSignature } from "../envelope/index.js";
import { x509 } from "../x509/x509.js";
import { ServerSealedRecordError, UnsignedRecordError, UntrustedGrantError, UntrustedRecordError } from "./errors.js";
import { type RevocationLookup, type TrustAnchors, parseCertificate, verifyLeaf } from "./trust.js";

/** Who sealed a record: its owner (signed on the owner's device), the server (from a plaintext upload), or nobody known. */
export type RecordKind = "owner-signed" | "server-signed" | "unsigned";

export interface OpenedRecord {
  content: Uint8Array;
  kind: RecordKind;
  owner: string;
  id: string;
  /** The signer's CN: the owner's identity, or the server certificate's host name; undefined when unsigned. */
  signer?: string;
  signedAt?: Date;
}

export interface ReadPolicy {
  /** The identity the record must belong to (the caller's own, unless reading a record shared by `owner`). */
  owner: string;
  id: string;
  acceptServerSealed: boolean;
  /** Records stored before signed records existed; off by default (an unsigned record may be anyone's forgery). */
  acceptUnsigned: boolean;
}

export interface TrustContext {
  anchors: TrustAnchors;
  revoked: RevocationLookup;
  now: Date;
  /**
   * The host name (or IP) of the server this client talks to: a server-signed record must be signed by a server
   * certificate for that name, not by any server certificate the CA ever issued (another service's, a retired one).
   */
  serverHost?: string;
}

/** RFC 5280 CRLReason keyCompromise: a grant signed with such a key is not believed whatever time it claims. */
const KEY_COMPROMISE = 1;

const CLOCK_SKEW_MS = 5 * 60_000;

export async function verifyRecord(
  opened: { contentType: ContentKind; content: Uint8Array },
  policy: ReadPolicy,
  trust: TrustContext,
): Promise<OpenedRecord> {
  if (opened.contentType === "data") {
    if (!policy.acceptUnsigned)
      throw new UnsignedRecordError(
        "the record is not signed: it may be a forgery (stored before signed records? read it with acceptUnsigned)",
      );
    return { content: opened.content, kind: "unsigned", owner: policy.owner, id: policy.id };
  }
  const sig = checkedSignature(opened.content);
  if (sig.purpose !== "record")
    throw new UntrustedRecordError("the envelope holds a grant statement, not a record: it was planted");
  if (sig.binding.id !== policy.id || sig.binding.owner !== policy.owner) {
    throw new UntrustedRecordError("the record is signed for another id or owner: it was moved or swapped");
  }
  const { kind, signer } = await trustedSigner(sig, policy.owner, trust, policy.acceptServerSealed);
  return {
    content: sig.content,
    kind,
    owner: policy.owner,
    id: policy.id,
    signer,
    ...(sig.signingTime ? { signedAt: sig.signingTime } : {}),
  };
}

function checkedSignature(bytes: Uint8Array): VerifiedRecordSignature {
  try {
    return verifyRecordSignature(bytes);
  } catch (cause) {
    throw new UntrustedRecordError("the record's signature does not verify", { cause });
  }
}

/** The signer is the owner (client certificate named `owner`) or the server; checked as of the signing time. */
async function trustedSigner(
  sig: VerifiedRecordSignature,
  owner: string,
  trust: TrustContext,
  acceptServer: boolean,
): Promise<{ kind: RecordKind; signer: string }> {
  const at = sig.signingTime;
  if (!at || at.getTime() > trust.now.getTime() + CLOCK_SKEW_MS)
    throw new UntrustedRecordError("the record's signing time is missing or in the future");
  const { leaf, eku } = signerFacts(
    sig.signer.der,
    () => new UntrustedRecordError("the record's signer certificate cannot be read"),
  );
  const extra = (): x509.X509Certificate[] => sig.certificates.slice(1).map(parseCertificate);
  const server = !eku.includes(x509.ExtendedKeyUsage.clientAuth) && eku.includes(x509.ExtendedKeyUsage.serverAuth);
  try {
    await verifyLeaf(leaf, trust.anchors, {
      purpose: server ? "sign-server" : "sign-client",
      ...(server ? {} : { identity: owner }),
      at,
      revoked: trust.revoked,
      extraIntermediates: extra,
    });
  } catch (cause) {
    throw new UntrustedRecordError(
      server ? "the record's server signature is not one to trust" : `the record is not signed by ${owner}`,
      { cause },
    );
  }
  if (server && !namesHost(sig.signer.der, trust.serverHost))
    throw new UntrustedRecordError(
      "the record is signed by a server certificate of our CA for another host, not by this server",
    );
  // Classified only once verified: a forgery is untrusted_record, never "server-sealed".
  if (server && !acceptServer)
    throw new ServerSealedRecordError(
      "the record was sealed by the server from a plaintext upload, and server-sealed records are refused",
    );
  return { kind: server ? "server-signed" : "owner-signed", signer: leaf.subjectName.getField("CN")[0] ?? "" };
}

/** A grant statement of `owner` for record `id`: signed by the owner, for this record; returns the grantee. */
export async function verifyGrant(
  statement: Uint8Array,
  owner: string,
  id: string,
  trust: TrustContext,
): Promise<Grant> {
  let grant: Grant;
  try {
    grant = readGrant(statement);
  } catch {
    throw new UntrustedGrantError("a grant statement does not verify");
  }
  if (grant.owner !== owner || grant.id !== id)
    throw new UntrustedGrantError("a grant statement is for another record or owner");
  const at = grant.signature.signingTime;
  if (!at || at.getTime() > trust.now.getTime() + CLOCK_SKEW_MS)
    throw new UntrustedGrantError("a grant statement's signing time is missing or in the future");
  const { leaf } = signerFacts(
    grant.signature.signer.der,
    () => new UntrustedGrantError("a grant statement's signer certificate cannot be read"),
  );
  const extra = (): x509.X509Certificate[] => grant.signature.certificates.slice(1).map(parseCertificate);
  try {
    await verifyLeaf(leaf, trust.anchors, {
      purpose: "sign-client",
      identity: owner,
      at,
      revoked: trust.revoked,
      extraIntermediates: extra,
    });
  } catch {
    throw new UntrustedGrantError(`the grant to ${grant.grantee} is not signed by ${owner}`);
  }
  // A grant redirects every later write; a thief of a key revoked for compromise could backdate one to before the
  // revocation. So such a key's grants are void whenever signed: the owner shares again from a current key.
  if (trust.revoked(leaf)?.reason === KEY_COMPROMISE)
    throw new UntrustedGrantError(
      `the grant to ${grant.grantee} is signed by a key revoked for compromise: share again`,
    );
  return grant;
}

/**
 * The signer certificate parsed, with its EKU. Its extensions come from whoever made the signature: a damaged one is
 * the caller's typed refusal, never a parser's own error (found by fuzzing).
 */
function signerFacts(der: Uint8Array, refuse: () => Error): { leaf: x509.X509Certificate; eku: string[] } {
  try {
    const leaf = parseCertificate(der);
    leaf.getExtension(x509.BasicConstraintsExtension);
    leaf.getExtension(x509.KeyUsagesExtension);
    leaf.getExtension(x509.AuthorityKeyIdentifierExtension);
    return { leaf, eku: (leaf.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? []).map(String) };
  } catch {
    throw refuse();
  }
}

/** Whether a server certificate (DER) is for `host` (DNS name or IP in its SANs); no host known: not accepted. */
function namesHost(der: Uint8Array, host: string | undefined): boolean {
  if (!host) return false;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return false;
  }
  const bare = host.replace(/^\[|\]$/g, "");
  return isIP(bare) ? cert.checkIP(bare) !== undefined : cert.checkHost(bare, { wildcards: false }) !== undefined;
}
