/**
 * CRL v2 signed by the intermediate: CRL number, authority key identifier, thisUpdate/nextUpdate, and a reason code
 * on each entry whose reason is not "unspecified" (RFC 5280 5.3.1 asks to omit that one).
 */
import { nodeCrypto, x509 } from "../x509/x509.js";

import { AsnConvert } from "@peculiar/asn1-schema";
import { CRLNumber, id_ce_cRLNumber } from "@peculiar/asn1-x509";
import type { CrlEntry } from "../store/certificates.js";
import { REASONS } from "./reasons.js";
import type { ReasonName } from "./reasons.js";
import type { Signer } from "./sign.js";

export async function buildCrl(p: {
  signer: Signer;
  revoked: CrlEntry[];
  crlNumber: number;
  now: Date;
  days: number;
}): Promise<x509.X509Crl> {
  const crlNumber = new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(p.crlNumber)));
  const aki = await x509.AuthorityKeyIdentifierExtension.create(p.signer.certificate, false, nodeCrypto);
  return x509.X509CrlGenerator.create(
    {
      issuer: p.signer.certificate.subjectName,
      thisUpdate: p.now,
      nextUpdate: new Date(p.now.getTime() + p.days * 86_400_000),
      signingAlgorithm: p.signer.signingAlgorithm,
      signingKey: p.signer.signingKey,
      extensions: [aki, crlNumber],
      entries: p.revoked.map((c) => {
        const reason = REASONS[(c.revocationReason ?? "unspecified") as ReasonName] ?? x509.X509CrlReason.unspecified;
        return {
          serialNumber: c.serial,
          revocationDate: c.revokedAt ?? p.now,
          ...(reason === x509.X509CrlReason.unspecified ? {} : { reason }),
        };
      }),
    },
    p.signer.crypto ?? nodeCrypto,
  );
}
