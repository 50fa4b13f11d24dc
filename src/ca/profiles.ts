/**
 * Certificate profiles: pure rules for what each kind of certificate looks like (validity, basic constraints, key
 * usage, extended key usage, SANs). No I/O and no keys here, so the rules are testable on their own.
 */
import { isIP } from "node:net";
import { UsageError } from "../errors/index.js";
import { type KeyFamily, SEALING_USAGE } from "../policy/keys.js";

export const PROFILES = ["client", "server"] as const;
export type Profile = (typeof PROFILES)[number];
export type { KeyFamily } from "../policy/keys.js";

export type KeyUsageName = "digitalSignature" | "keyEncipherment" | "keyAgreement" | "keyCertSign" | "cRLSign";
export type ExtendedKeyUsageName = "clientAuth" | "serverAuth";

export interface CertificateShape {
  notBefore: Date;
  notAfter: Date;
  ca: false | { pathLength: number };
  keyUsage: KeyUsageName[];
  extendedKeyUsage: ExtendedKeyUsageName[];
  /** Subject alternative names: DNS names and IP addresses. */
  sans: { dns: string[]; ip: string[] };
  /** CRL Distribution Points URIs (ca/crl-url.ts); absent: no such extension. */
  crlUrls?: string[];
}

export const DEFAULT_DAYS: Record<Profile, number> = { client: 90, server: 365 };
export const MAX_DAYS: Record<Profile, number> = { client: 825, server: 825 };
export const ROOT_DAYS = 3650;
export const INTERMEDIATE_DAYS = 1825;
/** Certificates start a little in the past so that a client whose clock is slightly behind accepts them. */
export const BACKDATE_MS = 60_000;

// Identity names (the CN of client certificates): the safe set lives in identity-name.ts (docs/pki.md).
export { MAX_IDENTITY_LENGTH, RECOVERY_IDENTITY, identityNameProblem, identityProblem } from "./identity-name.js";

const DAY_MS = 86_400_000;

export function parseProfile(value: string | undefined): Profile {
  if (value !== undefined && (PROFILES as readonly string[]).includes(value)) return value as Profile;
  throw new UsageError(`--profile must be one of ${PROFILES.join(", ")}`);
}

export function parseDays(value: string | undefined, profile: Profile): number {
  if (value === undefined) return DEFAULT_DAYS[profile];
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_DAYS[profile]) {
    throw new UsageError(`--days must be a whole number from 1 to ${MAX_DAYS[profile]} for the ${profile} profile`);
  }
  return n;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const DNS = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
/** The last label of a DNS name is never all digits (RFC 3696 2): "256.1.1.1" or "999" is a broken address, not a name. */
const NUMERIC_TLD = /(^|\.)\d+$/;

export function classifySans(names: readonly string[]): { dns: string[]; ip: string[] } {
  const dns: string[] = [];
  const ip: string[] = [];
  for (const name of names) {
    if (IPV4.test(name)) ip.push(name);
    // IPv6 in hex notation only: no zone id (%eth0), no embedded dotted quad (@peculiar/x509 mis-encodes ::ffff:1.2.3.4).
    else if (name.includes(":") && isIP(name) === 6 && /^[0-9a-f:]+$/i.test(name)) ip.push(name);
    else if (DNS.test(name) && name.length <= 253 && !NUMERIC_TLD.test(name)) dns.push(name.toLowerCase());
    else throw new UsageError(`--san "${name}" is neither a DNS name nor an IP address (IPv6 in hex notation only)`);
  }
  return { dns, ip };
}

/** The validity window: backdated a minute, `days` long, never past the issuer's own notAfter. */
export function validity(now: Date, days: number, issuerNotAfter: Date): { notBefore: Date; notAfter: Date } {
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const wanted = now.getTime() + days * DAY_MS;
  return { notBefore, notAfter: new Date(Math.min(wanted, issuerNotAfter.getTime())) };
}

/**
 * Key usage of an end-entity certificate. Client: digitalSignature and the sealing usage of the key table
 * (policy/keys.ts: EC keys agree keys for CMS ECDH, RSA keys encipher them for CMS OAEP), exactly what the client
 * profile (policy/client-certificate.ts) demands at login and before sealing.
 */
export function leafKeyUsage(family: KeyFamily, profile: Profile): KeyUsageName[] {
  if (profile === "client") return ["digitalSignature", SEALING_USAGE[family]];
  return family === "EC" ? ["digitalSignature"] : ["digitalSignature", "keyEncipherment"];
}

export function leafShape(input: {
  profile: Profile;
  family: KeyFamily;
  days: number;
  sans: readonly string[];
  commonName: string;
  now: Date;
  issuerNotAfter: Date;
  /** Where the issuer publishes its CRL (HOME/ca/crl.json), when it does. */
  crlUrl?: string | undefined;
}): CertificateShape {
  const sanNames = input.profile === "server" && input.sans.length === 0 ? [input.commonName] : input.sans;
  return {
    ...validity(input.now, input.days, input.issuerNotAfter),
    ca: false,
    keyUsage: leafKeyUsage(input.family, input.profile),
    extendedKeyUsage: [input.profile === "client" ? "clientAuth" : "serverAuth"],
    sans: classifySans(sanNames),
    ...(input.crlUrl === undefined ? {} : { crlUrls: [input.crlUrl] }),
  };
}

export function rootShape(now: Date): CertificateShape {
  return {
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + ROOT_DAYS * DAY_MS),
    ca: { pathLength: 1 },
    keyUsage: ["keyCertSign", "cRLSign"],
    extendedKeyUsage: [],
    sans: { dns: [], ip: [] },
  };
}

export function intermediateShape(now: Date, rootNotAfter: Date): CertificateShape {
  return {
    ...validity(now, INTERMEDIATE_DAYS, rootNotAfter),
    ca: { pathLength: 0 },
    keyUsage: ["keyCertSign", "cRLSign"],
    extendedKeyUsage: [],
    sans: { dns: [], ip: [] },
  };
}
