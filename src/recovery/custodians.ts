/**
 * The custodian set of `recovery init`. "Any K of N" means K different people only if every share goes to a
 * different person: one identity (CN) holding two certificates, or one key certified under two names, would hold two
 * shares and could recover with fewer helpers than the threshold says. So each custodian certificate must be an
 * active client certificate of this CA (certificate-check.ts), identities and keys must all be distinct, the recovery
 * identity itself cannot be a custodian, and the threshold cannot exceed the number of custodians. Everything is
 * checked before anything is issued or written.
 */
import { RECOVERY_IDENTITY } from "../ca/profiles.js";
import { CustodianRefusedError, UsageError } from "../errors/index.js";
import { CertificateRefusedError, checkOurCertificate } from "./certificate-check.js";
import type { CheckContext, CheckedCertificate } from "./certificate-check.js";

export { CustodianRefusedError };

export interface CustodianInput {
  pem: string;
  /** Where it came from (the --custodian file), to name it in a refusal. */
  source: string;
}

export interface Custodian extends CheckedCertificate {
  source: string;
}

export const MAX_CUSTODIANS = 255;

/** Shape of the request alone (usage errors, exit 2): counts and a whole-number threshold of at least 2. */
export function checkThresholdUsage(count: number, threshold: number): void {
  if (count < 2 || count > MAX_CUSTODIANS)
    throw new UsageError(`give 2 to ${MAX_CUSTODIANS} custodian certificates (--custodian FILE, repeated)`);
  if (!Number.isInteger(threshold) || threshold < 2)
    throw new UsageError("--threshold must be a whole number, 2 or more");
}

async function checkOne(input: CustodianInput, ctx: CheckContext): Promise<Custodian> {
  try {
    const checked = await checkOurCertificate(input.pem, ctx);
    if (checked.identity === RECOVERY_IDENTITY)
      throw new CertificateRefusedError("it is the recovery certificate itself");
    return { ...checked, source: input.source };
  } catch (err) {
    if (err instanceof CertificateRefusedError)
      throw new CustodianRefusedError(`custodian certificate ${input.source} refused: ${err.message}`);
    throw err;
  }
}

/** Every custodian checked, in the order given; refuses (typed, exit 1) a set that one person could open alone. */
export async function vetCustodians(
  inputs: readonly CustodianInput[],
  threshold: number,
  ctx: CheckContext,
): Promise<Custodian[]> {
  checkThresholdUsage(inputs.length, threshold);
  const custodians: Custodian[] = [];
  const byIdentity = new Map<string, Custodian>();
  const byKey = new Map<string, Custodian>();
  for (const input of inputs) {
    const c = await checkOne(input, ctx);
    const sameName = byIdentity.get(c.identity);
    const sameKey = byKey.get(c.keyId);
    if (sameName) {
      const what =
        sameName.fingerprint === c.fingerprint
          ? "is the same certificate as"
          : "is a second certificate of the same identity as";
      throw new CustodianRefusedError(
        `custodian certificate ${c.source} refused: it ${what} ${sameName.source} ("${c.identity}"); one person would hold two shares`,
      );
    }
    if (sameKey) {
      throw new CustodianRefusedError(
        `custodian certificate ${c.source} refused: it has the same key as ${sameKey.source} ("${c.identity}" and "${sameKey.identity}"); one key holder would hold two shares`,
      );
    }
    byIdentity.set(c.identity, c);
    byKey.set(c.keyId, c);
    custodians.push(c);
  }
  if (threshold > custodians.length) {
    throw new CustodianRefusedError(
      `--threshold ${threshold} is more than the ${custodians.length} custodians: no ${threshold} of them could ever rebuild the key`,
    );
  }
  return custodians;
}
