/**
 * CertvaultClient: the user's side of the API. Records are signed here by the user's key, bound to their owner and
 * id, and sealed here, to recipients the SDK verified itself (verifier.ts): the caller's own certificate, other
 * certificates of the caller's identity and grantees' certificates that chain to the pinned root and are not revoked
 * on a verified CRL, and the pinned recovery certificate. Records are opened here and returned only once their
 * signature, signer and binding verify (record-trust.ts): the server never sees plaintext, and a server or database
 * that lies can neither redirect a record to another key nor pass off a forged or swapped one.
 */
import { openContent, seal, signGrant, signRecord } from "../envelope/index.js";
import { newRecordId } from "../policy/record-id.js";
import { rotateRecords, shareRecord, unshareRecord } from "./key-lifecycle.js";
import type { LifecycleClient, RotationProgress } from "./key-lifecycle.js";
import { x509 } from "../x509/x509.js";
import { Transport, expectOk } from "./transport.js";
import type { TransportOptions } from "./transport.js";
import { anchorsFromPem } from "./trust.js";
import type { TrustAnchors } from "./trust.js";
import { MemoryTrustState, normalizeFingerprint } from "./trust-state.js";
import { Verifier } from "./verifier.js";
import { directoryCertificates, granteeCertificates, listedGrants, trustedGrantees } from "./grantees.js";
import type { GranteeReads } from "./grantees.js";
import { certificateRequest, requestCertificate } from "./certificate-requests.js";
import type { RequestChecks } from "./certificate-requests.js";
import type { CertificateRequestView, ClientOptions, Me, ReadOptions, RecordInfo, RecordPage } from "./client-types.js";
import type { OpenedRecord, RecordKind } from "./record-trust.js";

export type { CertificateRequestView, ClientOptions, Me, ReadOptions, RecordInfo, RecordPage } from "./client-types.js";
export type { RotationProgress } from "./key-lifecycle.js";
export type { OpenedRecord, RecordKind } from "./record-trust.js";

const CMS = "application/pkcs7-mime";

/** The id of a new record (policy/record-id.ts): chosen here, so that the record's signature can name it. */
export { newRecordId };

export class CertvaultClient {
  private readonly transport: Transport;
  private readonly anchors: TrustAnchors;
  private readonly verifier: Verifier;
  private readonly clock: () => Date;
  /** What the sharing reads (grantees.ts) and certificate requests (certificate-requests.ts) use of this client. */
  private readonly deps: GranteeReads & RequestChecks;

  constructor(private readonly opts: ClientOptions) {
    this.anchors = anchorsFromPem(opts.caPem);
    this.clock = opts.clock ?? (() => new Date());
    const t: TransportOptions = {
      ...opts,
      onServerChain: (ders) => {
        // Issuing CAs from a handshake that was verified against the pinned root: safe to use for recipient checks.
        for (const der of ders) {
          const c = new x509.X509Certificate(new Uint8Array(der));
          if (c.subject !== c.issuer && !this.anchors.intermediates.some((i) => i.equal(c)))
            this.anchors.intermediates.push(c);
        }
      },
    };
    this.transport = new Transport(t);
    this.verifier = new Verifier({
      anchors: this.anchors,
      certPem: opts.certPem,
      key: opts.key,
      state: opts.trustState ?? new MemoryTrustState(),
      clock: this.clock,
      ...(opts.crlMaxAgeMs === undefined ? {} : { crlMaxAgeMs: opts.crlMaxAgeMs }),
      fetchCrl: async () => new Uint8Array(expectOk(await this.transport.send("GET", "/v1/crl"), [200]).body),
      serverHost: new URL(opts.server).hostname,
    });
    this.deps = { transport: this.transport, verifier: this.verifier, anchors: this.anchors, clock: this.clock };
  }

  /** The caller's identity: the CN of its own certificate, never the server's word. */
  get identity(): string {
    return this.verifier.identity;
  }

  close(): void {
    this.transport.close();
  }

  /** GET /v1/me, checked: the server must name this client as its own certificate does (IdentityMismatchError). */
  async me(): Promise<Me> {
    const r = expectOk(await this.transport.send("GET", "/v1/me"), [200]);
    const me = JSON.parse(r.body.toString("utf8")) as Me;
    this.verifier.checkMe(me);
    return me;
  }

  /** The certificates to seal a record of the caller's to: its own, its identity's others and the pinned recovery certificate, each verified here. */
  async recipients(): Promise<string[]> {
    const me = await this.me();
    const recovery = await this.verifier.recovery(me);
    return [...(await this.verifier.ownRecipients(me)), ...(recovery ? [recovery] : [])];
  }

  /** The pinned recovery certificate, verified; undefined before recovery is set up. */
  async recoveryCertificate(): Promise<string | undefined> {
    return this.verifier.recovery(await this.me());
  }

  /**
   * Pins the recovery certificate the server names (after checking it chains to the pinned root, carries the
   * reserved name and is not revoked), only if its SHA-256 fingerprint is `fingerprint` (hex, colons allowed), the one
   * the administrator published.
   * From then on the SDK seals to that certificate only, and refuses any other the server names.
   */
  async pinRecovery(fingerprint: string): Promise<{ fingerprint: string; serial: string; notAfter: Date }> {
    return this.verifier.pinRecovery(await this.me(), normalizeFingerprint(fingerprint));
  }

  /** Signs `data` as a record of the caller's, bound to `id`, and seals it to `recipients`. */
  private async sealRecord(id: string, data: Uint8Array, recipients: readonly string[]): Promise<Uint8Array> {
    const signed = signRecord(data, await this.verifier.signer(), { owner: this.identity, id }, { now: this.clock() });
    return seal(signed, recipients, { contentType: "signed-data" });
  }

  /** Stores a new record under an id chosen here (PUT, If-None-Match: *), signed and sealed here; returns the id. */
  async put(data: Uint8Array): Promise<string> {
    const id = newRecordId();
    const envelope = await this.sealRecord(id, data, await this.recipients());
    expectOk(
      await this.transport.send("PUT", `/v1/records/${id}`, envelope, { "content-type": CMS, "if-none-match": "*" }),
      [201],
    );
    return id;
  }

  /**
   * Seals and replaces a record; returns its new version. With `ifVersion` (the version a read saw) the server
   * refuses with ServerError `precondition_failed` if someone wrote the record since.
   */
  async update(id: string, data: Uint8Array, opts: { ifVersion?: number } = {}): Promise<number> {
    // A shared record stays shared with the grantees the owner signed grants for (verified here), and no one else.
    const theirs = (
      await Promise.all((await this.trustedGrantees(id)).map((g) => granteeCertificates(this.deps, g)))
    ).flat();
    const envelope = await this.sealRecord(id, data, [...(await this.recipients()), ...theirs]);
    const headers: Record<string, string> = {
      "content-type": CMS,
      ...(opts.ifVersion === undefined ? {} : { "if-match": `"${opts.ifVersion}"` }),
    };
    const r = expectOk(
      await this.transport.send("PUT", `/v1/records/${encodeURIComponent(id)}`, envelope, headers),
      [200],
    );
    return (JSON.parse(r.body.toString("utf8")) as { version: number }).version;
  }

  async getEnvelope(id: string): Promise<Uint8Array> {
    return (await this.getVersioned(id)).envelope;
  }

  /** The envelope and its version (the ETag), for a compare-and-swap update. */
  async getVersioned(id: string): Promise<{ envelope: Uint8Array; version: number }> {
    const r = expectOk(await this.transport.send("GET", `/v1/records/${encodeURIComponent(id)}`), [200]);
    const etag = /^"(\d+)"$/.exec(String(r.headers.etag ?? ""));
    return { envelope: new Uint8Array(r.body), version: etag ? Number(etag[1]) : 0 };
  }

  /** Replaces a record's envelope as it is (already sealed), only if it is still at `version`. */
  async putEnvelope(id: string, envelope: Uint8Array, version: number): Promise<number> {
    const r = expectOk(
      await this.transport.send("PUT", `/v1/records/${encodeURIComponent(id)}`, envelope, {
        "content-type": CMS,
        "if-match": `"${version}"`,
      }),
      [200],
    );
    return (JSON.parse(r.body.toString("utf8")) as { version: number }).version;
  }

  /**
   * Key rotation: re-wraps every record of the identity to `newCertPem` (verified against the pinned root first),
   * on the client, content untouched. Resumable; see key-lifecycle.ts.
   */
  async rotateTo(
    newCertPem: string,
    opts: { dropOld?: boolean; onProgress?: (p: RotationProgress) => void } = {},
  ): Promise<RotationProgress> {
    await this.verifier.sealable(newCertPem, this.identity);
    return rotateRecords(this.lifecycle(), newCertPem, opts);
  }

  /**
   * Shares a record with another identity: the record is first opened and verified as the caller's own record `id`
   * (a server cannot hand over another envelope to be re-wrapped), the grantee's certificates are verified here, and
   * the grant is the caller's signed statement; see key-lifecycle.ts.
   */
  async share(id: string, identity: string): Promise<void> {
    const statement = signGrant(
      await this.verifier.signer(),
      { owner: this.identity, id, grantee: identity },
      { now: this.clock() },
    );
    await shareRecord(this.lifecycle(), id, identity, await this.directory(identity), statement);
    this.verifier.noteShare(id, identity);
  }

  /**
   * Removes every recipient that is not to keep (this identity's certificates, the recovery certificate, the other
   * grantees'), so that also revoked or unlisted certificates of the unshared identity go, then the grant.
   */
  async unshare(id: string, identity: string): Promise<void> {
    const keep = [...(await this.recipients())];
    for (const g of await this.trustedGrantees(id))
      if (g !== identity) keep.push(...(await granteeCertificates(this.deps, g)));
    await unshareRecord(this.lifecycle(), id, identity, keep);
    this.verifier.noteUnshare(id, identity);
  }

  /** Revokes this client's own certificate (reason superseded), e.g. at the end of a rotation; the client is then done. */
  async revokeSelf(): Promise<void> {
    const serial = (await this.me()).serial;
    expectOk(await this.transport.send("DELETE", `/v1/certificates/${encodeURIComponent(serial)}`), [204]);
  }

  /** The identities a record of this identity is shared with, as the server lists them (unverified: see trustedGrantees). */
  async grantees(id: string): Promise<string[]> {
    return (await listedGrants(this.transport, id)).map((g) => g.grantee);
  }

  /**
   * The grantees of a record whose grants this identity signed, each checked here; a grant without a valid statement
   * (a row a database writer inserted, one signed by someone else or for another record) is an UntrustedGrantError.
   */
  async trustedGrantees(id: string): Promise<string[]> {
    return trustedGrantees(this.deps, id);
  }

  /** What the lifecycle operations need of this client, without reaching into its fields. */
  private lifecycle(): LifecycleClient {
    return {
      key: this.opts.key,
      certPem: this.opts.certPem,
      recovery: () => this.recoveryCertificate(),
      all: () => this.all(),
      getVersioned: (id) => this.getVersioned(id),
      putEnvelope: (id, env, v) => this.putEnvelope(id, env, v),
      verifyOwn: async (id, envelope) => {
        await this.verifyOwnEnvelope(id, envelope);
      },
      setGrant: async (id, identity, statement, version) => {
        const path = `/v1/records/${encodeURIComponent(id)}/grants/${encodeURIComponent(identity)}`;
        if (statement)
          expectOk(
            await this.transport.send("PUT", path, statement, { "if-match": `"${version}"`, "content-type": CMS }),
            [200],
          );
        else expectOk(await this.transport.send("DELETE", path, undefined, { "if-match": `"${version}"` }), [204]);
      },
    };
  }

  /** The record's content, once its signature, signer and binding verify (see openRecord); a typed error otherwise. */
  async get(id: string, opts: ReadOptions = {}): Promise<Uint8Array> {
    return (await this.openRecord(id, opts)).content;
  }

  /**
   * Fetches, opens and verifies a record: content only when it is signed by its owner (or, if accepted, by the
   * server) and bound to this owner and id; says which kind it was. UntrustedRecordError (and its subclasses
   * UnsignedRecordError, ServerSealedRecordError) otherwise, with no bytes.
   */
  async openRecord(id: string, opts: ReadOptions = {}): Promise<OpenedRecord & { version: number }> {
    const { envelope, version } = await this.getVersioned(id);
    const opened = await this.verifier.record(openContent(envelope, this.opts.key, this.opts.certPem), {
      owner: opts.owner ?? this.identity,
      id,
      acceptServerSealed: opts.acceptServerSealed ?? this.opts.read?.acceptServerSealed ?? true,
      acceptUnsigned: opts.acceptUnsigned ?? this.opts.read?.acceptUnsigned ?? false,
    });
    return { ...opened, version };
  }

  /** Throws unless `envelope` opens as this identity's own record `id` (signed by it, or by the server for it). */
  private async verifyOwnEnvelope(id: string, envelope: Uint8Array): Promise<RecordKind> {
    const opened = await this.verifier.record(openContent(envelope, this.opts.key, this.opts.certPem), {
      owner: this.identity,
      id,
      acceptServerSealed: true,
      acceptUnsigned: false,
    });
    opened.content.fill(0);
    return opened.kind;
  }

  async list(opts: { limit?: number; cursor?: string | null } = {}): Promise<RecordPage> {
    const q = new URLSearchParams();
    if (opts.limit !== undefined) q.set("limit", String(opts.limit));
    if (opts.cursor) q.set("cursor", opts.cursor);
    const r = expectOk(await this.transport.send("GET", `/v1/records${q.size ? `?${q}` : ""}`), [200]);
    return JSON.parse(r.body.toString("utf8")) as RecordPage;
  }

  /** Every record of the identity, page after page. */
  async *all(pageSize = 100): AsyncGenerator<RecordInfo> {
    let cursor: string | null = null;
    do {
      const page: RecordPage = await this.list({ limit: pageSize, cursor });
      yield* page.records;
      cursor = page.next;
    } while (cursor);
  }

  /**
   * Renewal: asks for a certificate for a new key (a CSR made with createKeyAndCsr for the same name). The answer
   * is "issued" with the certificate (checked here against the pinned root and the identity), or "pending" until an
   * admin decides; then poll with certificateRequest(id).
   */
  async requestCertificate(csrPem: string): Promise<CertificateRequestView> {
    return requestCertificate(this.deps, csrPem);
  }

  /** A request's status; with the CSR, an issued certificate is also checked to be for that CSR's key. */
  async certificateRequest(id: string, csrPem?: string): Promise<CertificateRequestView> {
    return certificateRequest(this.deps, id, csrPem);
  }

  /** Another identity's active certificates from the server's directory, each verified here against the pinned root. */
  async directory(identity: string): Promise<string[]> {
    return directoryCertificates(this.deps, identity);
  }

  async delete(id: string): Promise<void> {
    expectOk(await this.transport.send("DELETE", `/v1/records/${encodeURIComponent(id)}`), [204]);
  }
}
