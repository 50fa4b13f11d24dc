/**
 * Everything the SDK believes, decided here from what it can verify and never from the server's word: its own
 * identity (the CN of the local certificate), whom to seal to (its own certificate; other certificates of its own
 * identity and grantees' certificates that chain to the pinned root and are not revoked on a verified CRL; the
 * recovery certificate only if its fingerprint is the one pinned), which grants to honour (signed by the owner), and
 * which records to return (record-trust.ts).
 */
import { createHash } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { RECOVERY_IDENTITY } from "../ca/profiles.js";
import { normalizeSerial } from "../ca/serial.js";
import type { RecordSigner } from "../envelope/index.js";
import { x509 } from "../x509/x509.js";
import { RevocationList } from "./crl.js";
import { IdentityMismatchError, RecoveryPinError, UntrustedCertificateError, UntrustedGrantError } from "./errors.js";
import { type OpenedRecord, type ReadPolicy, verifyGrant, verifyRecord } from "./record-trust.js";
import type { TrustState } from "./trust-state.js";
import { type RevocationLookup, type TrustAnchors, cachedIssuerOf, verifyRecipient } from "./trust.js";
import type { ContentKind } from "../envelope/index.js";

/** What GET /v1/me says: to be checked, never simply believed. */
export interface MeClaim {
  identity: string;
  serial: string;
  certificates: string[];
  recovery?: string | null;
}

/**
 * SHA-256 of a PEM certificate's DER, from the base64 alone: no parse (a @peculiar/x509 parse cost ~540 us here, and
 * every put fingerprinted each listed certificate). Whether the bytes are a certificate is for the checks that use it.
 */
export function fingerprintOfPem(pem: string): string {
  const known = fingerprints.get(pem);
  if (known !== undefined) return known;
  const fp = computeFingerprint(pem);
  fingerprints.set(pem, fp);
  if (fingerprints.size > 256) fingerprints.delete(fingerprints.keys().next().value as string);
  return fp;
}

/** Fingerprints by PEM text: every put compares the PEMs of GET /v1/me with the pinned ones. */
const fingerprints = new Map<string, string>();

function computeFingerprint(pem: string): string {
  const body = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (body === undefined)
    throw new UntrustedCertificateError("the server listed something that is not a PEM certificate");
  return createHash("sha256")
    .update(Buffer.from(body.replace(/\s/g, ""), "base64"))
    .digest("hex");
}

export class Verifier {
  readonly identity: string;
  private readonly own: x509.X509Certificate;
  private readonly ownFingerprint: string;
  private readonly crl: RevocationList;
  private signerCache: RecordSigner | undefined;
  /** Recipients whose chain and usages were checked, by identity + fingerprint (revocation is checked every time). */
  private readonly chained = new Map<string, x509.X509Certificate>();

  constructor(
    private readonly p: {
      anchors: TrustAnchors;
      certPem: string;
      key: KeyObject;
      state: TrustState;
      clock: () => Date;
      crlMaxAgeMs?: number;
      fetchCrl: () => Promise<Uint8Array>;
      serverHost: string;
    },
  ) {
    this.own = new x509.X509Certificate(p.certPem);
    const cn = this.own.subjectName.getField("CN");
    if (cn.length !== 1 || !cn[0])
      throw new UntrustedCertificateError("the local certificate has no single CN to take the identity from");
    this.identity = cn[0];
    this.ownFingerprint = fingerprintOfPem(p.certPem);
    this.crl = new RevocationList(p.fetchCrl, p.anchors, p.state, p.clock, p.crlMaxAgeMs);
  }

  /** The server's /v1/me must name this client as its certificate does. */
  checkMe(me: MeClaim): void {
    if (me.identity !== this.identity)
      throw new IdentityMismatchError(
        `the server says this client is "${me.identity}"; its certificate says "${this.identity}"`,
      );
    const same =
      typeof me.serial === "string" &&
      /^[0-9a-fA-F]{1,80}$/.test(me.serial) &&
      normalizeSerial(me.serial) === normalizeSerial(this.own.serialNumber);
    if (!same) {
      throw new IdentityMismatchError("the server names another certificate than the one this client presented");
    }
  }

  async revoked(): Promise<RevocationLookup> {
    return this.crl.current();
  }

  /** A certificate to seal to, of `identity`: chain and usages checked once, revocation every time. */
  async sealable(pem: string, identity: string): Promise<string> {
    const revoked = await this.revoked();
    const key = `${identity}\n${fingerprintOfPem(pem)}`;
    const now = this.p.clock();
    let cert = this.chained.get(key);
    if (!cert || now.getTime() > cert.notAfter.getTime()) {
      cert = await verifyRecipient(pem, this.p.anchors, identity, now, revoked);
      this.chained.set(key, cert);
    }
    const r = revoked(cert);
    if (r && r.date.getTime() <= now.getTime())
      throw new UntrustedCertificateError(`certificate ${cert.serialNumber} is revoked`);
    return pem;
  }

  /** This client's own certificate, then every other certificate of its identity the server lists, each verified. */
  async ownRecipients(me: MeClaim): Promise<string[]> {
    this.checkMe(me);
    // The CRL is verified on every write (at most once per crlMaxAgeMs), also when there is no one else to check: so
    // that every revocation this client could have seen is remembered (trust-state.ts), and a CRL rollback noticed.
    await this.revoked();
    const others = me.certificates.filter((pem) => fingerprintOfPem(pem) !== this.ownFingerprint);
    const out = [this.p.certPem];
    for (const pem of others) out.push(await this.sealable(pem, this.identity));
    return out;
  }

  /** The recovery certificate to seal to: only the pinned one, verified; none before recovery is set up and pinned. */
  async recovery(me: MeClaim): Promise<string | undefined> {
    const pin = this.p.state.load().recoveryFingerprint;
    if (!me.recovery) {
      if (pin) throw new RecoveryPinError(`the server no longer names the pinned recovery certificate ${pin}`);
      return undefined;
    }
    const fp = fingerprintOfPem(me.recovery);
    if (!pin)
      throw new RecoveryPinError(
        `recovery is set up on the server (certificate SHA-256 ${fp}): pin it first with \`certvault recovery pin --profile DIR --fingerprint ${fp}\` after checking the fingerprint with your administrator`,
      );
    if (fp !== pin) throw new RecoveryPinError(`the server names recovery certificate ${fp}, not the pinned ${pin}`);
    return this.sealable(me.recovery, RECOVERY_IDENTITY);
  }

  /**
   * Pins the recovery certificate the server names, after verifying it, only if it is `expected` (the fingerprint the
   * administrator published): no trust on first use, the server's word alone pins nothing.
   */
  async pinRecovery(me: MeClaim, expected: string): Promise<{ fingerprint: string; serial: string; notAfter: Date }> {
    if (!me.recovery) throw new RecoveryPinError("the server names no recovery certificate: recovery is not set up");
    const fp = fingerprintOfPem(me.recovery);
    if (expected !== fp) throw new RecoveryPinError(`the server names recovery certificate ${fp}, not ${expected}`);
    await this.sealable(me.recovery, RECOVERY_IDENTITY);
    this.p.state.save({ ...this.p.state.load(), recoveryFingerprint: fp });
    const cert = new x509.X509Certificate(me.recovery);
    return { fingerprint: fp, serial: cert.serialNumber.toLowerCase(), notAfter: cert.notAfter };
  }

  /**
   * This client as a signer: its key, its certificate and the issuing CA that signed it (for `-CAfile root.crt`).
   * The issuer is found once (two signature checks, ~1.2 ms) and kept; until one is known, it is looked for again.
   */
  async signer(): Promise<RecordSigner> {
    if (this.signerCache) return this.signerCache;
    const issuer = await cachedIssuerOf(this.own, this.p.anchors, this.p.clock());
    const signer = { key: this.p.key, certificate: this.p.certPem, chain: issuer ? [issuer.toString("pem")] : [] };
    if (issuer) this.signerCache = signer;
    return signer;
  }

  async record(opened: { contentType: ContentKind; content: Uint8Array }, policy: ReadPolicy): Promise<OpenedRecord> {
    return verifyRecord(opened, policy, {
      anchors: this.p.anchors,
      revoked: await this.revoked(),
      now: this.p.clock(),
      serverHost: this.p.serverHost,
    });
  }

  /**
   * The grantee a statement of this client's identity names for record `id` (throws UntrustedGrantError otherwise),
   * unless this client took that grant back after the statement was signed (a restored old grant row).
   */
  async grantee(statement: Uint8Array, id: string): Promise<string> {
    const grant = await verifyGrant(statement, this.identity, id, {
      anchors: this.p.anchors,
      revoked: await this.revoked(),
      now: this.p.clock(),
    });
    const takenBack = this.p.state.load().unshared?.[`${id} ${grant.grantee}`];
    const signedAt = grant.signature.signingTime?.getTime() ?? 0;
    if (takenBack !== undefined && signedAt <= Date.parse(takenBack))
      throw new UntrustedGrantError(`the grant to ${grant.grantee} was taken back on this device after it was signed`);
    return grant.grantee;
  }

  /** A new share supersedes an earlier take-back (its statement is signed now). */
  noteShare(id: string, grantee: string): void {
    const data = this.p.state.load();
    const key = `${id} ${grantee}`;
    if (data.unshared?.[key] === undefined) return;
    const { [key]: _dropped, ...rest } = data.unshared;
    this.p.state.save({ ...data, unshared: rest });
  }

  /** Remembers that this client unshared `id` from `grantee` (see grantee()). */
  noteUnshare(id: string, grantee: string): void {
    const data = this.p.state.load();
    this.p.state.save({
      ...data,
      unshared: { ...(data.unshared ?? {}), [`${id} ${grantee}`]: this.p.clock().toISOString() },
    });
  }
}
