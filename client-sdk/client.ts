/**
 * CertvaultClient: the user's side of the API. By default records are sealed here, to the identity's active
 * certificates as the server reports them — each verified against the pinned root first, so a server that slips in
 * a key of its own is caught — and opened here with the user's key: the server never sees plaintext.
 */
import type { KeyObject } from "node:crypto";
import { open, seal } from "../envelope/index.js";
import { RECOVERY_IDENTITY } from "../ca/profiles.js";
import { UntrustedCertificateError } from "./errors.js";
import { rotateRecords, shareRecord, unshareRecord } from "./key-lifecycle.js";
import type { LifecycleClient, RotationProgress } from "./key-lifecycle.js";
import { x509 } from "../keys/x509.js";
import { Transport, expectOk } from "./transport.js";
import type { TransportOptions } from "./transport.js";
import { anchorsFromPem, verifyRecipient } from "./trust.js";
import type { TrustAnchors } from "./trust.js";

export interface Me {
  identity: string;
  serial: string;
  notAfter: string;
  certificates: string[];
  /** The recovery certificate every record is also sealed to, once the admins have set recovery up. */
  recovery?: string | null;
}

export interface RecordInfo {
  id: string;
  size: number;
  createdAt: string;
  updatedAt: string;
}

export interface RecordPage {
  records: RecordInfo[];
  next: string | null;
}

export interface CertificateRequestView {
  id: string;
  status: "pending" | "issued" | "rejected";
  serial?: string;
  /** PEM, once issued; verified against the pinned root before it is returned. */
  certificate?: string;
}


export type { RotationProgress } from "./key-lifecycle.js";

export interface ClientOptions {
  /** https://host:port of the certvault server. */
  server: string;
  /** PEM of the CA root to trust (ca.pem); may also hold the issuing intermediate. */
  caPem: string;
  /** The user's certificate (PEM). */
  certPem: string;
  /** The user's private key, decrypted in memory (see FileKeyStore). */
  key: KeyObject;
  timeoutMs?: number;
  retries?: number;
}

const CMS = "application/pkcs7-mime";

export class CertvaultClient {
  private readonly transport: Transport;
  private readonly anchors: TrustAnchors;
  /** Recipients (identity + PEM) already verified against the pinned root, with their notAfter (ms). */
  private readonly verified = new Map<string, number>();

  constructor(private readonly opts: ClientOptions) {
    this.anchors = anchorsFromPem(opts.caPem);
    const t: TransportOptions = {
      ...opts,
      onServerChain: (ders) => {
        // Issuing CAs from a handshake that was verified against the pinned root: safe to use for recipient checks.
        for (const der of ders) {
          const c = new x509.X509Certificate(new Uint8Array(der));
          if (c.subject !== c.issuer && !this.anchors.intermediates.some((i) => i.equal(c))) this.anchors.intermediates.push(c);
        }
      },
    };
    this.transport = new Transport(t);
  }

  close(): void {
    this.transport.close();
  }

  async me(): Promise<Me> {
    const r = expectOk(await this.transport.send("GET", "/v1/me"), [200]);
    return JSON.parse(r.body.toString("utf8")) as Me;
  }

  /** The certificates to seal to: every active certificate of the identity (and the recovery certificate), each verified here. */
  async recipients(): Promise<string[]> {
    const me = await this.me();
    const now = Date.now();
    // The recovery certificate must be ours and carry the reserved name: a server cannot substitute a key of its own.
    const all = [...me.certificates.map((pem) => ({ pem, identity: me.identity })), ...(me.recovery ? [{ pem: me.recovery, identity: RECOVERY_IDENTITY }] : [])];
    for (const { pem, identity } of all) await this.verifiedOnce(pem, identity, now);
    return all.map((c) => c.pem);
  }

  /** The recovery certificate every record must also be sealed to, verified; undefined before recovery is set up. */
  async recoveryCertificate(): Promise<string | undefined> {
    const me = await this.me();
    if (!me.recovery) return undefined;
    await this.verifiedOnce(me.recovery, RECOVERY_IDENTITY, Date.now());
    return me.recovery;
  }

  /** A certificate verified once stays good until its notAfter (revocation is the server's list to keep). */
  private async verifiedOnce(pem: string, identity: string, now: number): Promise<void> {
    const key = `${identity}\n${pem}`;
    const until = this.verified.get(key);
    if (until !== undefined && now <= until) return;
    const cert = await verifyRecipient(pem, this.anchors, identity);
    this.verified.set(key, cert.notAfter.getTime());
  }

  async put(data: Uint8Array): Promise<string> {
    const envelope = await seal(data, await this.recipients());
    const r = expectOk(await this.transport.send("POST", "/v1/records", envelope, { "content-type": CMS }), [201]);
    return (JSON.parse(r.body.toString("utf8")) as { id: string }).id;
  }

  /**
   * Seals and replaces a record; returns its new version. With `ifVersion` (the version a read saw) the server
   * refuses with ServerError `precondition_failed` if someone wrote the record since.
   */
  async update(id: string, data: Uint8Array, opts: { ifVersion?: number } = {}): Promise<number> {
    // A shared record stays shared: its grantees' certificates (verified here) are recipients of the new version too.
    const grantees = await this.grantees(id);
    const theirs = (await Promise.all(grantees.map((g) => this.directory(g).catch(() => [] as string[])))).flat();
    const envelope = await seal(data, [...(await this.recipients()), ...theirs]);
    const headers: Record<string, string> = { "content-type": CMS, ...(opts.ifVersion === undefined ? {} : { "if-match": `"${opts.ifVersion}"` }) };
    const r = expectOk(await this.transport.send("PUT", `/v1/records/${encodeURIComponent(id)}`, envelope, headers), [200]);
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
    const r = expectOk(await this.transport.send("PUT", `/v1/records/${encodeURIComponent(id)}`, envelope, { "content-type": CMS, "if-match": `"${version}"` }), [200]);
    return (JSON.parse(r.body.toString("utf8")) as { version: number }).version;
  }

  /**
   * Key rotation: re-wraps every record of the identity to `newCertPem` (verified against the pinned root first),
   * on the client, content untouched. Resumable; see key-lifecycle.ts.
   */
  async rotateTo(newCertPem: string, opts: { dropOld?: boolean; onProgress?: (p: RotationProgress) => void } = {}): Promise<RotationProgress> {
    await verifyRecipient(newCertPem, this.anchors, (await this.me()).identity);
    return rotateRecords(this.lifecycle(), newCertPem, opts);
  }

  /** Shares a record with another identity (their certificates verified here first); see key-lifecycle.ts. */
  async share(id: string, identity: string): Promise<void> {
    return shareRecord(this.lifecycle(), id, identity, await this.directory(identity));
  }

  /**
   * Removes every recipient that is not to keep (this identity's certificates, the recovery certificate, the other
   * grantees'), so that also revoked or unlisted certificates of the unshared identity go, then the grant.
   */
  async unshare(id: string, identity: string): Promise<void> {
    const keep = [...(await this.recipients())];
    for (const g of await this.grantees(id)) if (g !== identity) keep.push(...(await this.directory(g).catch(() => [] as string[])));
    return unshareRecord(this.lifecycle(), id, identity, keep);
  }

  /** Revokes this client's own certificate (reason superseded), e.g. at the end of a rotation; the client is then done. */
  async revokeSelf(): Promise<void> {
    const serial = (await this.me()).serial;
    expectOk(await this.transport.send("DELETE", `/v1/certificates/${encodeURIComponent(serial)}`), [204]);
  }

  /** The identities a record of this identity is shared with. */
  async grantees(id: string): Promise<string[]> {
    const r = expectOk(await this.transport.send("GET", `/v1/records/${encodeURIComponent(id)}/grants`), [200]);
    return (JSON.parse(r.body.toString("utf8")) as { grantees: string[] }).grantees;
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
      setGrant: async (id, identity, grant, version) => {
        expectOk(await this.transport.send(grant ? "PUT" : "DELETE", `/v1/records/${encodeURIComponent(id)}/grants/${encodeURIComponent(identity)}`, undefined, { "if-match": `"${version}"` }), [grant ? 200 : 204]);
      },
    };
  }

  async get(id: string): Promise<Uint8Array> {
    return await open(await this.getEnvelope(id), this.opts.key, this.opts.certPem);
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
    const r = expectOk(await this.transport.send("POST", "/v1/certificates", new TextEncoder().encode(csrPem), { "content-type": "application/pkcs10" }), [201, 202]);
    return this.checkedView(JSON.parse(r.body.toString("utf8")) as CertificateRequestView, csrPem);
  }

  /** A request's status; with the CSR, an issued certificate is also checked to be for that CSR's key. */
  async certificateRequest(id: string, csrPem?: string): Promise<CertificateRequestView> {
    const r = expectOk(await this.transport.send("GET", `/v1/certificates/requests/${encodeURIComponent(id)}`), [200]);
    return this.checkedView(JSON.parse(r.body.toString("utf8")) as CertificateRequestView, csrPem);
  }

  private async checkedView(view: CertificateRequestView, csrPem?: string): Promise<CertificateRequestView> {
    if (!view.certificate) return view;
    const cert = await verifyRecipient(view.certificate, this.anchors, (await this.me()).identity);
    if (csrPem !== undefined) {
      const asked = Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData);
      if (!asked.equals(Buffer.from(cert.publicKey.rawData))) throw new UntrustedCertificateError("the certificate the server returned is not for the key of this request");
    }
    return view;
  }

  /** Another identity's active certificates from the server's directory, each verified here against the pinned root. */
  async directory(identity: string): Promise<string[]> {
    const r = expectOk(await this.transport.send("GET", `/v1/directory/${encodeURIComponent(identity)}`), [200]);
    const body = JSON.parse(r.body.toString("utf8")) as { identity: string; certificates: string[] };
    for (const pem of body.certificates) await verifyRecipient(pem, this.anchors, identity);
    return body.certificates;
  }

  async delete(id: string): Promise<void> {
    expectOk(await this.transport.send("DELETE", `/v1/records/${encodeURIComponent(id)}`), [204]);
  }
}
