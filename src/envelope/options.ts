/**
 * Limits, with defaults sized for certvault: the server stores records of up to 16 MiB, and the envelope must also
 * serve larger client-side use, so the default envelope bound is 64 MiB of content plus room for recipients.
 */
import { EnvelopeUsageError } from "./errors.js";

export interface EnvelopeOptions {
  /** Largest envelope accepted (open, inspect, ...) or produced (seal, addRecipients), in bytes. */
  readonly maxEnvelopeBytes?: number;
  /** Most recipients in one envelope: each KeyTransRecipientInfo and each recipientEncryptedKey counts one. */
  readonly maxRecipients?: number;
  /** Largest recipientInfos SET, in bytes: bounds all header parsing independently of the content size. */
  readonly maxRecipientInfosBytes?: number;
}

export const DEFAULT_MAX_ENVELOPE_BYTES = 64 * 1024 * 1024 + 1024 * 1024;
export const DEFAULT_MAX_RECIPIENTS = 64;
export const DEFAULT_MAX_RECIPIENT_INFOS_BYTES = 1024 * 1024;

export type Limits = Required<EnvelopeOptions>;

const DEFAULTS: Limits = {
  maxEnvelopeBytes: DEFAULT_MAX_ENVELOPE_BYTES,
  maxRecipients: DEFAULT_MAX_RECIPIENTS,
  maxRecipientInfosBytes: DEFAULT_MAX_RECIPIENT_INFOS_BYTES,
};

export function resolveLimits(opts: EnvelopeOptions | undefined): Limits {
  if (opts === undefined) return DEFAULTS;
  const limits: Limits = {
    maxEnvelopeBytes: opts.maxEnvelopeBytes ?? DEFAULTS.maxEnvelopeBytes,
    maxRecipients: opts.maxRecipients ?? DEFAULTS.maxRecipients,
    maxRecipientInfosBytes: opts.maxRecipientInfosBytes ?? DEFAULTS.maxRecipientInfosBytes,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new EnvelopeUsageError(`${name} must be a positive integer`);
    }
  }
  return limits;
}

export function requireBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new EnvelopeUsageError(`${what} must be a Uint8Array`);
  return value;
}
