/**
 * The one table of certvault's error codes (the jose pattern: stable codes, one class per code). Each code says:
 * - `status`: the HTTP status the server answers with, or null for the SDK's own refusals, which are never an HTTP
 *   answer (no fake 502);
 * - `exit`: the CLI's exit status (contract.md: 1 refused or failed, 2 usage);
 * - `expose`: whether the error's own message may reach an HTTP client. As in koa, only below 500: a 5xx answer
 *   carries the code's `message` here, a fixed text, never the internal message (which may name a path or a module);
 * - `scope`: `http` the records API or the enrollment listener answers it; `local` the CLI, the CA, the operator's
 *   tools and the libraries (the server only answers one if such an operation runs inside a request); `client` the
 *   SDK's refusal of what a server sent (or failed to send).
 * docs/api.md lists every code with its status; test/errors/registry-docs.test.ts holds the two together.
 */

export type ErrorScope = "http" | "local" | "client";

export interface ErrorSpec {
  readonly status: number | null;
  readonly exit: 1 | 2;
  readonly expose: boolean;
  readonly scope: ErrorScope;
  /** The default message; for a code that is not exposed, the only text that reaches an HTTP client. */
  readonly message?: string;
}

function spec(scope: ErrorScope, status: number | null, message?: string, exit: 1 | 2 = 1): ErrorSpec {
  // koa's rule: a message reaches the client only below 500.
  const expose = status !== null && status < 500;
  return message === undefined ? { status, exit, expose, scope } : { status, exit, expose, scope, message };
}
const http = (status: number, message?: string, exit: 1 | 2 = 1) => spec("http", status, message, exit);
const local = (status: number, message?: string, exit: 1 | 2 = 1) => spec("local", status, message, exit);
const client = () => spec("client", null);

export const ERRORS = {
  // ---- general --------------------------------------------------------------------------------------------------
  internal_error: http(500, "internal error"),
  usage_error: local(400, undefined, 2),
  invalid_input: http(400),
  not_found: http(404, "not found"),
  conflict: http(409),
  precondition_failed: http(412, "the record changed since that version was read; fetch it again and retry"),
  payload_too_large: http(413, "body exceeds the size limit"),
  invalid_grant: http(400),
  bad_passphrase: local(400, "wrong passphrase, or the key file is damaged"),
  passphrase_required: local(400, "a passphrase is required: use --passphrase-file FILE or CERTVAULT_PASSPHRASE", 2),
  file_exists: local(409),

  // ---- HTTP request shape ---------------------------------------------------------------------------------------
  invalid_id: http(400, "the record id is malformed"),
  invalid_query: http(400),
  not_a_recipient: http(400, "none of the envelope's recipients is a certificate of the caller"),
  recovery_recipient_missing: http(
    400,
    'records must also be sealed to the recovery certificate (GET /v1/me names it as "recovery")',
  ),
  method_not_allowed: http(405, "method not allowed on this endpoint"),
  expectation_failed: http(417, "only Expect: 100-continue is understood"),
  malformed_request: http(400, "the request is not well-formed HTTP/1.1"),
  headers_too_large: http(431, "the request headers are too large"),
  request_timeout: http(408, "the request did not arrive in time"),

  // ---- who gets in ------------------------------------------------------------------------------------------------
  client_certificate_required: http(401, "a client certificate issued by this CA is required"),
  certificate_not_allowed: http(403),
  identity_not_allowed: http(403),
  certificate_revoked: http(403, "this certificate has been revoked"),
  invalid_token: http(401, "the enrollment token is not valid (unknown, already used, expired or revoked)"),
  identity_quarantined: http(
    403,
    "this identity is quarantined after unusual activity; an administrator must release it",
  ),
  admin_required: http(403, "this endpoint is for administrator identities only"),
  csrf_rejected: http(403, "the form is not from this console session; reload the page and try again"),

  // ---- budgets ----------------------------------------------------------------------------------------------------
  rate_limited: http(429),
  renewal_limited: http(429),
  self_revocation_limited: http(429),
  concurrency_limited: http(429),

  // ---- the server cannot serve now (5xx: fixed texts only) --------------------------------------------------------
  service_unavailable: http(503, "the service cannot carry out this request now; retry later"),
  not_ready: http(503, "the server has not loaded the certificate registry and revocations yet; retry shortly"),
  audit_unavailable: http(503, "the audit log cannot be written; the request was not carried out"),
  database_unavailable: http(503, "the database is unavailable; retry later"),
  storage_full: http(503, "the database's storage is full; nothing was stored, retry later"),

  // ---- the CA -----------------------------------------------------------------------------------------------------
  csr_rejected: http(400),
  ca_exists: local(409),
  ca_missing: local(500, "the CA is not available here"),
  certificate_not_found: local(404),
  already_revoked: local(409),
  pkcs11_pin_required: local(
    400,
    "the CA's keys are in a PKCS#11 token: give its PIN with --pkcs11-pin-file FILE, CERTVAULT_PKCS11_PIN_FILE or CERTVAULT_PKCS11_PIN",
    2,
  ),
  pkcs11_token_error: local(500, "the CA's key token cannot be used"),

  // ---- audit --------------------------------------------------------------------------------------------------------
  audit_tampered: local(500, "the audit chain does not verify"),
  audit_chain_broken: local(500, "the audit chain does not continue its last signed checkpoint"),
  audit_anchor_missing: local(500, "no signed audit checkpoint to start from"),
  audit_checkpoints_invalid: local(500, "an audit checkpoint file is not valid"),
  audit_key_missing: local(500, "the audit key is missing"),

  // ---- backup, restore, recovery ------------------------------------------------------------------------------------
  backup_invalid: local(400),
  backup_unsupported: local(400),
  restore_target_exists: local(409),
  certificate_refused: local(400),
  custodian_refused: local(400),
  recovery_failed: local(500, "recovery failed"),

  // ---- the envelope (envelope.md): upload refusals are answered; the rest are the library's own -------------------
  envelope_error: local(400),
  malformed_envelope: http(400),
  unsupported_algorithm: http(400),
  unsupported_feature: http(400),
  invalid_originator_key: http(400),
  invalid_certificate: http(400),
  unsupported_key: http(400),
  key_usage_not_allowed: http(400),
  envelope_too_large: http(413),
  too_many_recipients: http(400),
  invalid_signature: http(400, "the record's signature does not verify"),
  decryption_failed: local(400, "the envelope cannot be decrypted with this key"),
  no_matching_recipient: local(400),
  key_mismatch: local(400),
  last_recipient: local(400),
  invalid_envelope_argument: local(400),

  // ---- the SDK's own refusals: never an HTTP answer, so no HTTP status ------------------------------------------
  server_error: client(),
  bad_answer: client(),
  connection_failed: client(),
  untrusted_certificate: client(),
  identity_mismatch: client(),
  untrusted_record: client(),
  unsigned_record: client(),
  server_sealed_record: client(),
  untrusted_grant: client(),
  untrusted_crl: client(),
  recovery_not_pinned: client(),
  root_pin_mismatch: client(),
} satisfies Record<string, ErrorSpec>;

/** Every code certvault uses: `switch (err.code)` over a CertvaultError narrows on these. */
export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, code);
}

export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERRORS[code];
}

/** The text an HTTP client may see for `code` when the error's own message is not exposed. */
export function publicMessage(code: ErrorCode): string {
  return errorSpec(code).message ?? code.replaceAll("_", " ");
}
