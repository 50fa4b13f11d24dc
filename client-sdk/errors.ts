/** SDK-side errors: server answers keep the server's code; trust failures have their own. */
import { CertvaultError } from "../errors/index.js";

/** An error answer from the server, with the server's stable code and HTTP status. */
export class ServerError extends CertvaultError {
  static override readonly code: string = "server_error";
  override readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message, { status });
    this.code = code;
  }
}

/** A certificate the SDK refuses to seal to (not from the pinned CA, wrong usage, expired, another identity). */
export class UntrustedCertificateError extends CertvaultError {
  static override readonly code: string = "untrusted_certificate";
  constructor(message: string) {
    super(message, { status: 502 });
  }
}

export class ConnectionError extends CertvaultError {
  static override readonly code: string = "connection_failed";
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { status: 502, ...opts });
  }
}
