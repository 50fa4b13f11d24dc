/**
 * The CRL as the SDK believes it: fetched from GET /v1/crl, signed by an issuing CA that chains to the pinned root,
 * current (thisUpdate not in the future, nextUpdate not past), and never older than the newest one this client has
 * verified (its CRL number is remembered in the trust state). Kept for `maxAgeMs` (default 5 s) so that a burst of
 * puts costs one fetch; a revocation reaches the SDK's sealing decisions within that time.
 */
import { AsnConvert } from "@peculiar/asn1-schema";
import { CRLNumber, id_ce_cRLNumber } from "@peculiar/asn1-x509";
import { x509 } from "../x509/x509.js";
import { normalizeSerial } from "../ca/serial.js";
import { UntrustedCrlError } from "./errors.js";
import type { TrustState } from "./trust-state.js";
import { type RevocationLookup, type TrustAnchors, issuerOf } from "./trust.js";

const CLOCK_SKEW_MS = 5 * 60_000;
export const DEFAULT_CRL_MAX_AGE_MS = 5_000;

export function crlNumberOf(crl: x509.X509Crl): bigint {
  const ext = crl.getExtension(id_ce_cRLNumber);
  if (!ext) throw new UntrustedCrlError("the CRL carries no CRL number");
  return BigInt(AsnConvert.parse(ext.value, CRLNumber).value);
}

/**
 * The issuing key a certificate or CRL names (AKI keyIdentifier): an intermediate replaced under the same subject
 * name signs with another key, and its CRL must not be taken as covering the other's certificates.
 */
function keyIdOf(o: x509.X509Certificate | x509.X509Crl): string | undefined {
  return o.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase();
}

function parseRevocation(v: string): { date: Date; reason?: number } {
  const [time, reason] = v.split("#");
  return { date: new Date(time ?? 0), ...(reason === undefined ? {} : { reason: Number(reason) }) };
}

export class RevocationList {
  private cached: { lookup: RevocationLookup; at: number } | undefined;
  private inflight: Promise<RevocationLookup> | undefined;

  constructor(
    private readonly fetchDer: () => Promise<Uint8Array>,
    private readonly anchors: TrustAnchors,
    private readonly state: TrustState,
    private readonly clock: () => Date,
    private readonly maxAgeMs = DEFAULT_CRL_MAX_AGE_MS,
  ) {}

  /** The revocation lookup of a verified, current CRL (fetched again once older than maxAgeMs). */
  async current(): Promise<RevocationLookup> {
    const now = this.clock().getTime();
    if (this.cached && now - this.cached.at <= this.maxAgeMs) return this.cached.lookup;
    this.inflight ??= this.refresh().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async refresh(): Promise<RevocationLookup> {
    const now = this.clock();
    let crl: x509.X509Crl;
    try {
      crl = new x509.X509Crl(new Uint8Array(await this.fetchDer()));
    } catch (err) {
      if (err instanceof UntrustedCrlError) throw err;
      throw new UntrustedCrlError("the server's CRL does not parse");
    }
    const issuer = await issuerOf(crl, this.anchors, now);
    if (!issuer) throw new UntrustedCrlError("the server's CRL is not signed by the pinned CA");
    if (crl.thisUpdate.getTime() > now.getTime() + CLOCK_SKEW_MS)
      throw new UntrustedCrlError("the server's CRL is from the future");
    if (!crl.nextUpdate || crl.nextUpdate.getTime() < now.getTime())
      throw new UntrustedCrlError("the server's CRL is out of date");
    this.checkNumber(crlNumberOf(crl));
    const remembered = this.remember(crl);
    const lookup: RevocationLookup = (cert) => {
      // A certificate this CRL does not cover cannot be shown unrevoked: treat it as revoked (fail closed).
      if (cert.issuer !== crl.issuer || keyIdOf(cert) !== keyIdOf(crl)) return { date: new Date(0) };
      const entry = crl.findRevoked(cert);
      if (entry) return { date: entry.revocationDate, ...(entry.reason !== undefined ? { reason: entry.reason } : {}) };
      return remembered.get(normalizeSerial(cert.serialNumber));
    };
    this.cached = { lookup, at: this.clock().getTime() };
    return lookup;
  }

  /** Adds this CRL's revocations to the ones remembered (revocation is for good: certvault never un-revokes). */
  private remember(crl: x509.X509Crl): Map<string, { date: Date; reason?: number }> {
    const data = this.state.load();
    const known = { ...(data.revoked ?? {}) };
    let added = false;
    for (const e of crl.entries) {
      const serial = normalizeSerial(e.serialNumber);
      if (known[serial] === undefined) {
        // "time#reason": the reason matters (keyCompromise voids grants whenever signed, record-trust.ts).
        known[serial] = `${e.revocationDate.toISOString()}${e.reason === undefined ? "" : `#${e.reason}`}`;
        added = true;
      }
    }
    if (added) this.state.save({ ...this.state.load(), revoked: known });
    return new Map(Object.entries(known).map(([k, v]) => [k, parseRevocation(v)]));
  }

  /** Never back: a CRL older than the newest verified one would un-revoke what that one revoked. */
  private checkNumber(n: bigint): void {
    const data = this.state.load();
    const seen = data.crlNumber === undefined ? -1n : BigInt(data.crlNumber);
    if (n < seen)
      throw new UntrustedCrlError(
        `the server's CRL (number ${n}) is older than one this client has verified (number ${seen})`,
      );
    if (n > seen) this.state.save({ ...data, crlNumber: n.toString() });
  }
}
