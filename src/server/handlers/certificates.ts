/**
 * The certificate endpoints' handlers (the table is routes.ts): renewal requests, self-revocation, a request's
 * status; and the public reads beside them: the caller's own view (/v1/me), the certificate directory, the CRL.
 */
import { readBody } from "../body.js";
import { NotFoundError } from "../../errors/index.js";
import type { CertificateService } from "../services/certificates.js";
import type { RecordService } from "../services/records.js";
import type { CertificateDirectory, CrlSource } from "../ports.js";
import { identityParam } from "../request-input.js";
import type { RouteSpec } from "../route-runner.js";
import { JSON_TYPE, MeAnswers } from "./me-answer.js";

type Handle = RouteSpec["handle"];

/** A CSR is a few hundred bytes (RSA-3072 about 1.5 KiB); anything near this is not one. */
const MAX_CSR_BYTES = 64 * 1024;

export interface CertificateHandlers {
  request: Handle;
  revoke: Handle;
  status: Handle;
}

export function certificateHandlers(certificates: CertificateService): CertificateHandlers {
  return {
    // Renewal: a CSR for a new key of the caller's own identity; 201 with the certificate, or 202 while an admin decides.
    async request(ctx, c) {
      const view = await certificates.request(c, await readBody(ctx, MAX_CSR_BYTES));
      ctx.status = view.status === "pending" ? 202 : 201;
      ctx.body = view;
    },
    async revoke(ctx, c) {
      await certificates.revokeSelf(c, ctx.params.serial ?? "");
      ctx.status = 204;
      ctx.set("Connection", "close"); // this connection's certificate is revoked now
    },
    async status(ctx, c) {
      ctx.body = await certificates.status(c, ctx.params.requestId ?? "");
    },
  };
}

export interface DirectoryHandlers {
  me: Handle;
  directory: Handle;
  crl: Handle;
}

export function directoryHandlers(
  directory: CertificateDirectory,
  records: RecordService,
  crl: CrlSource,
): DirectoryHandlers {
  const answers = new MeAnswers();
  return {
    async me(ctx, c) {
      const certs = await directory.activeCertificates(c.identity);
      const recovery = (await records.recovery()) ?? null;
      ctx.set("Content-Type", JSON_TYPE);
      ctx.body = answers.body(c, certs, recovery);
    },
    // The certificate directory: anyone's active certificates (public material), for sealing to them. The SDK
    // verifies every one against the pinned root before it seals to it.
    async directory(ctx) {
      const identity = identityParam(ctx);
      const certs = await directory.activeCertificates(identity);
      if (certs.length === 0) throw new NotFoundError(`no active certificate for "${identity}"`);
      ctx.body = { identity, certificates: certs.map((c) => c.pem) };
    },
    crl(ctx) {
      ctx.type = "application/pkix-crl";
      ctx.body = Buffer.from(crl.crlDer);
    },
  };
}
