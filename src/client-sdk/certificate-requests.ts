/**
 * Renewal over mTLS from the client's side: a CSR for a new key goes to POST /v1/certificates, and a certificate the
 * server hands back is returned only once it chains to the pinned root, names this identity, is not revoked, and
 * (given the CSR) certifies the key of this request. CertvaultClient (client.ts) delegates here.
 */
import { UntrustedCertificateError } from "./errors.js";
import { x509 } from "../x509/x509.js";
import { expectOk } from "./transport.js";
import type { Transport } from "./transport.js";
import { verifyLeaf } from "./trust.js";
import type { TrustAnchors } from "./trust.js";
import type { Verifier } from "./verifier.js";
import type { CertificateRequestView } from "./client-types.js";

export interface RequestChecks {
  transport: Transport;
  verifier: Verifier;
  anchors: TrustAnchors;
  clock: () => Date;
}

export async function requestCertificate(d: RequestChecks, csrPem: string): Promise<CertificateRequestView> {
  const body = new TextEncoder().encode(csrPem);
  const r = expectOk(
    await d.transport.send("POST", "/v1/certificates", body, { "content-type": "application/pkcs10" }),
    [201, 202],
  );
  return checkedView(d, JSON.parse(r.body.toString("utf8")) as CertificateRequestView, csrPem);
}

export async function certificateRequest(
  d: RequestChecks,
  id: string,
  csrPem?: string,
): Promise<CertificateRequestView> {
  const r = expectOk(await d.transport.send("GET", `/v1/certificates/requests/${encodeURIComponent(id)}`), [200]);
  return checkedView(d, JSON.parse(r.body.toString("utf8")) as CertificateRequestView, csrPem);
}

async function checkedView(
  d: RequestChecks,
  view: CertificateRequestView,
  csrPem?: string,
): Promise<CertificateRequestView> {
  if (!view.certificate) return view;
  const cert = new x509.X509Certificate(view.certificate);
  await verifyLeaf(cert, d.anchors, {
    purpose: "seal",
    identity: d.verifier.identity,
    at: d.clock(),
    revoked: await d.verifier.revoked(),
  });
  if (csrPem !== undefined) {
    const asked = Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData);
    if (!asked.equals(Buffer.from(cert.publicKey.rawData)))
      throw new UntrustedCertificateError("the certificate the server returned is not for the key of this request");
  }
  return view;
}
