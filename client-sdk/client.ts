/**
 * CertvaultClient: the user's side of the API. By default records are sealed here, to the identity's active
 * certificates as the server reports them — each verified against the pinned root first, so a server that slips in
 * a key of its own is caught — and opened here with the user's key: the server never sees plaintext.
 */
import type { KeyObject } from "node:crypto";
import { addRecipients, isRecipient, open, removeRecipients, seal } from "../envelope/index.js";
import { ServerError } from "./errors.js";
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

export interface RotationProgress {
  rewrapped: number;
  skipped: number;
  /** Writes refused because the record changed meanwhile (each then fetched and re-wrapped again). */
  retried: number;
  /** Records this key is not a recipient of (left as they are; rotate them from a device that can open them). */
  notOpenable: number;
}

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

  /** The certificates to seal to: every active certificate of the identity, each verified on this side. */
  async recipients(): Promise<string[]> {
    const me = await this.me();
    const now = Date.now();
    for (const pem of me.certificates) {
      // A certificate verified once stays good until its notAfter (revocation is the server's list to keep).
      const key = `${me.identity}\n${pem}`;
      const until = this.verified.get(key);
      if (until !== undefined && now <= until) continue;
      const cert = await verifyRecipient(pem, this.anchors, me.identity);
      this.verified.set(key, cert.notAfter.getTime());
    }
    return me.certificates;
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
    const envelope = await seal(data, await this.recipients());
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
   * here on the client and without re-encrypting content: only the recipient infos change. With `dropOld`, this
   * client's own certificate is removed as a recipient too. Idempotent, so an interrupted rotation is finished by
   * running it again: records already done are skipped. Each write is a compare-and-swap on the record's version;
   * a record changed meanwhile is fetched again.
   */
  async rotateTo(newCertPem: string, opts: { dropOld?: boolean; onProgress?: (p: RotationProgress) => void } = {}): Promise<RotationProgress> {
    const me = await this.me();
    await verifyRecipient(newCertPem, this.anchors, me.identity);
    const progress: RotationProgress = { rewrapped: 0, skipped: 0, retried: 0, notOpenable: 0 };
    const ids: string[] = [];
    for await (const r of this.all()) ids.push(r.id);
    for (const id of ids) {
      for (let attempt = 0; ; attempt++) {
        const { envelope, version } = await this.getVersioned(id);
        const hasNew = isRecipient(envelope, newCertPem);
        const hasOld = isRecipient(envelope, this.opts.certPem);
        if (hasNew && !(opts.dropOld && hasOld)) {
          progress.skipped++;
          break;
        }
        if (!hasNew && !hasOld) {
          // Sealed to other certificates of the identity only (another device): this key cannot re-wrap it.
          progress.notOpenable++;
          break;
        }
        // No content check: the cost stays flat with record size (the key unwrap itself is authenticated).
        let next = hasNew ? envelope : addRecipients(envelope, this.opts.key, this.opts.certPem, [newCertPem], { verifyContent: false });
        if (opts.dropOld) next = removeRecipients(next, [this.opts.certPem]);
        try {
          await this.putEnvelope(id, next, version);
          progress.rewrapped++;
          break;
        } catch (err) {
          if (!(err instanceof ServerError && err.code === "precondition_failed") || attempt >= 4) throw err;
          progress.retried++;
        }
      }
      opts.onProgress?.({ ...progress });
    }
    return progress;
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
    return this.checkedView(JSON.parse(r.body.toString("utf8")) as CertificateRequestView);
  }

  async certificateRequest(id: string): Promise<CertificateRequestView> {
    const r = expectOk(await this.transport.send("GET", `/v1/certificates/requests/${encodeURIComponent(id)}`), [200]);
    return this.checkedView(JSON.parse(r.body.toString("utf8")) as CertificateRequestView);
  }

  private async checkedView(view: CertificateRequestView): Promise<CertificateRequestView> {
    if (view.certificate) await verifyRecipient(view.certificate, this.anchors, (await this.me()).identity);
    return view;
  }

  /** Another identity's active certificates from the server's directory, each verified here against the pinned root. */
  async directory(identity: string): Promise<string[]> {
    const r = expectOk(await this.transport.send("GET", `/v1/directory/${encodeURIComponent(identity)}`), [200]);
    const body = JSON.parse(r.body.toString("utf8")) as { identity: string; certificates: string[] };
    for (const pem of body.certificates) await verifyRecipient(pem, this.anchors, identity);
    return body.certificates;
  }

  /**
   * Shares a record with another identity: wraps its content key for every active certificate of that identity (as
   * the directory lists them, each checked against the pinned root, so a server cannot slip in a key of its own),
   * stores the envelope, then records the grant. A grantee who downloaded the record keeps what they downloaded.
   */
  async share(id: string, identity: string): Promise<void> {
    const certs = await this.directory(identity);
    for (let attempt = 0; ; attempt++) {
      const { envelope, version } = await this.getVersioned(id);
      const missing = certs.filter((c) => !isRecipient(envelope, c));
      try {
        const v = missing.length === 0 ? version : await this.putEnvelope(id, addRecipients(envelope, this.opts.key, this.opts.certPem, missing), version);
        expectOk(await this.transport.send("PUT", `/v1/records/${encodeURIComponent(id)}/grants/${encodeURIComponent(identity)}`, undefined, { "if-match": `"${v}"` }), [200]);
        return;
      } catch (err) {
        if (!(err instanceof ServerError && err.code === "precondition_failed") || attempt >= 4) throw err;
      }
    }
  }

  /** Removes the identity's certificates from the record's recipients, then the grant. */
  async unshare(id: string, identity: string): Promise<void> {
    const r = await this.transport.send("GET", `/v1/directory/${encodeURIComponent(identity)}`);
    const certs = r.status === 200 ? (JSON.parse(r.body.toString("utf8")) as { certificates: string[] }).certificates : [];
    for (let attempt = 0; ; attempt++) {
      const { envelope, version } = await this.getVersioned(id);
      const present = certs.filter((c) => isRecipient(envelope, c));
      try {
        const v = present.length === 0 ? version : await this.putEnvelope(id, removeRecipients(envelope, present), version);
        expectOk(await this.transport.send("DELETE", `/v1/records/${encodeURIComponent(id)}/grants/${encodeURIComponent(identity)}`, undefined, { "if-match": `"${v}"` }), [204]);
        return;
      } catch (err) {
        if (!(err instanceof ServerError && err.code === "precondition_failed") || attempt >= 4) throw err;
      }
    }
  }

  async delete(id: string): Promise<void> {
    expectOk(await this.transport.send("DELETE", `/v1/records/${encodeURIComponent(id)}`), [204]);
  }
}
