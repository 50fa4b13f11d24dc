/**
 * Whom a record is shared with, as far as this client can verify it: the grants the server lists are believed only
 * when the owner's signed statement names the same grantee (an inserted row is UntrustedGrantError), and a
 * grantee's certificates are sealed to only once each chains to the pinned root and is not revoked. CertvaultClient
 * (client.ts) delegates its sharing reads here.
 */
import { ServerError, UntrustedGrantError } from "./errors.js";
import { expectOk } from "./transport.js";
import type { Transport } from "./transport.js";
import type { Verifier } from "./verifier.js";

export interface GranteeReads {
  transport: Transport;
  verifier: Verifier;
}

interface ListedGrant {
  grantee: string;
  statement: string | null;
}

/** The grants of a record as the server lists them (unverified). */
export async function listedGrants(t: Transport, id: string): Promise<ListedGrant[]> {
  const r = expectOk(await t.send("GET", `/v1/records/${encodeURIComponent(id)}/grants`), [200]);
  const body = JSON.parse(r.body.toString("utf8")) as { grantees: string[]; grants?: ListedGrant[] };
  return body.grants ?? body.grantees.map((grantee) => ({ grantee, statement: null }));
}

/** The grantees whose grants this identity signed, each statement checked; UntrustedGrantError otherwise. */
export async function trustedGrantees(d: GranteeReads, id: string): Promise<string[]> {
  const out: string[] = [];
  for (const g of await listedGrants(d.transport, id)) {
    const statement = g.statement === null ? new Uint8Array(0) : new Uint8Array(Buffer.from(g.statement, "base64"));
    const named = await d.verifier.grantee(statement, id);
    if (named !== g.grantee)
      throw new UntrustedGrantError(`the server lists a grant to ${g.grantee} whose statement names ${named}`);
    out.push(named);
  }
  return out;
}

/** Another identity's active certificates from the server's directory, each verified against the pinned root. */
export async function directoryCertificates(d: GranteeReads, identity: string): Promise<string[]> {
  const r = expectOk(await d.transport.send("GET", `/v1/directory/${encodeURIComponent(identity)}`), [200]);
  const body = JSON.parse(r.body.toString("utf8")) as { identity: string; certificates: string[] };
  for (const pem of body.certificates) await d.verifier.sealable(pem, identity);
  return body.certificates;
}

/**
 * A grantee's certificates, verified; none only when the directory answers 404 (no active certificate left). Any
 * other failure (an untrusted certificate, a 500, a hang-up) propagates: a grantee is never dropped silently.
 */
export async function granteeCertificates(d: GranteeReads, identity: string): Promise<string[]> {
  try {
    return await directoryCertificates(d, identity);
  } catch (err) {
    if (err instanceof ServerError && err.code === "not_found") return [];
    throw err;
  }
}
