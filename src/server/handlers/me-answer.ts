/**
 * GET /v1/me's answer, serialized once per caller certificate and reused while what it says is the same: the
 * caller's active certificates (the same rows, in the same order; a revocation, an expiry or a new certificate
 * changes the list the directory hands on) and the recovery certificate. GET /v1/me is the SDK's first request of
 * every put; its answer is 2-3 KiB of PEM that JSON.stringify escaped, Koa measured and looked up a type for on
 * every request. Measured (session 11, same-run A/B, c=50): see docs/performance.md "Session 11".
 */
import type { CertificateRecord } from "../../store/certificates.js";
import type { Caller } from "../middleware/auth.js";

interface Entry {
  identity: string;
  notAfter: number;
  certs: readonly CertificateRecord[];
  recovery: string | null;
  body: Buffer;
}

/** Callers kept; past it the cache starts over (each entry ~3 KiB). */
const MAX_ENTRIES = 1024;
export const JSON_TYPE = "application/json; charset=utf-8";

function sameRows(a: readonly CertificateRecord[], b: readonly CertificateRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class MeAnswers {
  private readonly bySerial = new Map<string, Entry>();

  /** The answer's bytes: the cached ones when the rows and the recovery certificate are those they were made of. */
  body(caller: Caller, certs: readonly CertificateRecord[], recovery: string | null): Buffer {
    const hit = this.bySerial.get(caller.serial);
    if (
      hit &&
      hit.identity === caller.identity &&
      hit.notAfter === caller.notAfter &&
      hit.recovery === recovery &&
      sameRows(hit.certs, certs)
    )
      return hit.body;
    const body = Buffer.from(
      JSON.stringify({
        identity: caller.identity,
        serial: caller.serial,
        notAfter: new Date(caller.notAfter).toISOString(),
        certificates: certs.map((r) => r.pem),
        recovery,
      }),
    );
    if (this.bySerial.size >= MAX_ENTRIES) this.bySerial.clear();
    const { identity, notAfter } = caller;
    this.bySerial.set(caller.serial, { identity, notAfter, certs: [...certs], recovery, body });
    return body;
  }
}
