/**
 * The certificate authority: init, issue, revoke, CRL, list, show. Files through ca-files.ts, registry through
 * store/, rules from profiles.ts; the clock and the signer are injected so tests can move time and swap keys.
 */
import { x509 } from "../x509/x509.js";
import { createHash, randomBytes } from "node:crypto";
import {
  CsrRejectedError,
  AlreadyRevokedError,
  CaExistsError,
  CertificateNotFoundError,
  UsageError,
} from "../errors/index.js";
import { generateKeyPair, keyTypeSpec } from "../keys/key-types.js";
import type { KeyType } from "../keys/key-types.js";
import { encryptCryptoKey } from "../keys/encrypted-pkcs8.js";
import { writeFileAtomic, writeSecretFile } from "../files/secret-file.js";
import type { CertificateRecord, CertificateRepository, IssueGuard, RevokeGuard } from "../store/certificates.js";

type NewCertificateRecord = Omit<CertificateRecord, "storedStatus" | "revokedAt" | "revocationReason">;
import { caExists, ensureCaDir, readCaCertificates } from "./ca-files.js";
import type { CaCertificates, CaPaths } from "./ca-files.js";
import { vetCsr } from "./csr.js";
import { intermediateShape, leafShape, rootShape } from "./profiles.js";
import type { KeyFamily, Profile } from "./profiles.js";
import { randomSerial } from "./serial.js";
import { signCertificate } from "./sign.js";
import type { Signer } from "./sign.js";
import { buildCrl } from "./crl.js";
import { pkcs11RecordPath } from "./pkcs11-record.js";
import type { Pkcs11Record } from "./pkcs11-record.js";
import { crlPem } from "../x509/pem.js";
import { parseReason } from "./reasons.js";
import { readCrlUrl } from "./crl-url.js";
import { RECOVERY_IDENTITY } from "./profiles.js";
import type { OperationAudit } from "../audit/audited-operation.js";

export interface IssuedCertificate {
  pem: string;
  record: CertificateRecord;
}

export function fingerprintOf(cert: x509.X509Certificate): string {
  return createHash("sha256").update(new Uint8Array(cert.rawData)).digest("hex");
}

export interface InitCaOptions {
  name: string;
  keyType: KeyType;
  /** Encrypts the key files; with `pkcs11` the keys stay in the token and the passphrase is the caller's (audit key). */
  passphrase: string;
  now?: Date;
  /** Make the root and intermediate keys inside this PKCS#11 token instead of files (HOME/ca/pkcs11.json records where). */
  pkcs11?: { module: string; token: string; pin: string };
  /**
   * PBKDF2 rounds of the key files (default certvault's 600,000). Only the test kit lowers it, for throwaway CAs
   * under a published passphrase; the CLI never sets it.
   */
  keyFileIterations?: number;
}

export async function initCa(paths: CaPaths, opts: InitCaOptions): Promise<CaCertificates> {
  if (caExists(paths)) throw new CaExistsError(`a CA already exists in ${paths.dir}; refusing to overwrite it`);
  if (opts.passphrase.length < 8) throw new UsageError("the CA passphrase must be at least 8 characters");
  const now = opts.now ?? new Date();
  if (!opts.pkcs11) {
    ensureCaDir(paths);
    const rootKeys = await generateKeyPair(opts.keyType);
    const intKeys = await generateKeyPair(opts.keyType);
    return makeCa(
      paths,
      opts,
      now,
      { rootKeys, rootPublic: rootKeys.publicKey, intPublic: intKeys.publicKey },
      async () => {
        // Keys first: a CA directory never holds a certificate without its key.
        const rounds = opts.keyFileIterations;
        writeSecretFile(paths.rootKey, await encryptCryptoKey(rootKeys.privateKey, opts.passphrase, rounds));
        writeSecretFile(paths.intermediateKey, await encryptCryptoKey(intKeys.privateKey, opts.passphrase, rounds));
      },
    );
  }
  const p11 = opts.pkcs11;
  const { Pkcs11Token } = await import("./pkcs11.js");
  const token = Pkcs11Token.open(p11);
  try {
    ensureCaDir(paths);
    // Labels name the CA; the CKA_ID (from the public key) tells keys of the same label apart.
    const tag = randomBytes(4).toString("hex");
    const made: CryptoKeyPair[] = [];
    let recorded = false;
    try {
      const root = await token.generateSigningKeyPair(opts.keyType, `certvault root ${tag}`);
      made.push(root.keys);
      const int = await token.generateSigningKeyPair(opts.keyType, `certvault intermediate ${tag}`);
      made.push(int.keys);
      const record: Pkcs11Record = {
        version: 1,
        module: p11.module,
        tokenLabel: p11.token,
        tokenSerial: token.serial,
        keys: { root: root.ref, intermediate: int.ref },
      };
      return await makeCa(
        paths,
        opts,
        now,
        { rootKeys: root.keys, rootPublic: root.publicKey, intPublic: int.publicKey, crypto: token.crypto },
        async () => {
          // Where the keys are, first: a CA directory never holds a certificate without a way to its key.
          writeFileAtomic(pkcs11RecordPath(paths), JSON.stringify(record, null, 2) + "\n", { mode: 0o644 });
          recorded = true;
        },
      );
    } catch (err) {
      // Keys that no pkcs11.json points to would only clutter the token: remove them (best effort).
      if (!recorded) for (const pair of made) token.destroyKeyPair(pair);
      throw err;
    }
  } finally {
    await token.close();
  }
}

async function makeCa(
  paths: CaPaths,
  opts: InitCaOptions,
  now: Date,
  k: {
    rootKeys: CryptoKeyPair;
    rootPublic: x509.PublicKey | CryptoKey;
    intPublic: x509.PublicKey | CryptoKey;
    crypto?: Crypto;
  },
  storeKeys: () => Promise<void>,
): Promise<CaCertificates> {
  const signingAlgorithm = keyTypeSpec(opts.keyType).signingAlgorithm as Algorithm;
  const via = k.crypto ? { crypto: k.crypto } : {};
  const root = await signCertificate({
    serial: randomSerial(),
    subject: cnName(`${opts.name} Root CA`),
    shape: rootShape(now),
    publicKey: k.rootPublic,
    issuer: { selfSigned: k.rootKeys, signingAlgorithm, ...via },
  });
  const intermediate = await signCertificate({
    serial: randomSerial(),
    subject: cnName(`${opts.name} Issuing CA`),
    shape: intermediateShape(now, root.notAfter),
    publicKey: k.intPublic,
    issuer: { signingKey: k.rootKeys.privateKey, signingAlgorithm, certificate: root, ...via },
  });
  await storeKeys();
  writeFileAtomic(paths.rootCert, root.toString("pem") + "\n", { mode: 0o644 });
  writeFileAtomic(paths.intermediateCert, intermediate.toString("pem") + "\n", { mode: 0o644 });
  // The root key is used only here, so its CRL (no intermediate revoked) runs as long as the intermediate does.
  // Node's TLS checks CRLs for every certificate of the chain once any CRL is loaded, so it needs this one too.
  const arl = await buildCrl({
    signer: { signingKey: k.rootKeys.privateKey, signingAlgorithm, certificate: root, ...via },
    revoked: [],
    crlNumber: 1,
    now,
    days: Math.ceil((intermediate.notAfter.getTime() - now.getTime()) / 86_400_000),
  });
  writeFileAtomic(paths.rootCrl, crlPem(arl.rawData), { mode: 0o644 });
  return readCaCertificates(paths);
}

/**
 * A subject of exactly one CN, built as ASN.1 and never parsed from a DN string: @peculiar/x509 reads a string value
 * that starts with "#" as hex-encoded DER (a CSR with CN "#0c03626f62" would get a certificate for CN=bob) and drops a
 * trailing backslash. Same string types as before: PrintableString when it fits, UTF8String otherwise.
 */
export function cnName(cn: string): x509.Name {
  return new x509.Name([{ CN: [x509.Name.isPrintableString(cn) ? { printableString: cn } : { utf8String: cn }] }]);
}

export interface IssueRequest {
  /** Only `recovery init` may issue under the reserved recovery name. */
  recovery?: boolean;
  publicKey: x509.PublicKey | CryptoKey;
  commonName: string;
  family: KeyFamily;
  keyType: string;
  profile: Profile;
  days: number;
  sans?: string[];
  /** Runs in the registry insert's transaction (store/certificates.ts IssueGuard); throwing stores nothing. */
  guard?: IssueGuard;
}

/** The registry row of a certificate this CA signed (the CA's issue, and the test kit's broken-on-purpose ones). */
export function registryRow(
  serial: string,
  cert: x509.X509Certificate,
  req: { commonName: string; profile: Profile; keyType: string },
  createdAt: Date,
): NewCertificateRecord {
  return {
    serial,
    identity: req.commonName,
    subject: cert.subject,
    profile: req.profile,
    keyType: req.keyType,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprintSha256: fingerprintOf(cert),
    pem: cert.toString("pem") + "\n",
    createdAt,
  };
}

const issuedDetail = (r: IssuedCertificate): Record<string, string> => ({
  serial: r.record.serial,
  identity: r.record.identity,
});

export interface AuthorityDeps {
  /** Every issue, revoke and CRL goes through it (attempt, then done or failed), when given. */
  audit?: OperationAudit;
  paths: CaPaths;
  registry: CertificateRepository;
  /** Decrypts the intermediate key on first need (issue, CRL); revoke, list and show never need it. */
  signer: () => Promise<Signer>;
  now?: () => Date;
}

export class CertificateAuthority {
  private readonly now: () => Date;
  private signerPromise: Promise<Signer> | undefined;

  constructor(private readonly deps: AuthorityDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  get certificates(): CaCertificates {
    return readCaCertificates(this.deps.paths);
  }

  /** Loaded once; a failed load (a wrong passphrase, a token away) is forgotten so that the next call tries again. */
  private signer(): Promise<Signer> {
    this.signerPromise ??= this.deps.signer().catch((err: unknown) => {
      this.signerPromise = undefined;
      throw err;
    });
    return this.signerPromise;
  }

  /** Runs `op` under the audit trail when the CA has one (the CLI and the server always give it one). */
  private audited<T>(
    action: string,
    detail: Record<string, string | number | boolean>,
    op: () => Promise<T>,
    outcome?: (r: T) => Record<string, string | number | boolean>,
  ): Promise<T> {
    return this.deps.audit ? this.deps.audit.run({ action, detail }, op, outcome) : op();
  }

  /**
   * Issues from a CSR; nothing is written to the registry unless the CSR is accepted, the certificate signed and
   * `guard` (if any) passes in the insert's transaction.
   */
  async issueFromCsr(
    csrInput: Uint8Array | string,
    opts: { profile: Profile; days: number; sans?: string[]; guard?: IssueGuard },
  ): Promise<IssuedCertificate> {
    return this.audited(
      "ca.issue",
      { profile: opts.profile, days: opts.days },
      async () => {
        const vetted = await vetCsr(csrInput);
        return this.issue({
          publicKey: vetted.csr.publicKey,
          commonName: vetted.commonName,
          family: vetted.family,
          keyType: vetted.keyType,
          ...opts,
        });
      },
      issuedDetail,
    );
  }

  /** Issues for a public key whose possession was already established (the server's own TLS key, a vetted CSR). */
  async issueForKey(req: IssueRequest): Promise<IssuedCertificate> {
    return this.audited("ca.issue", { profile: req.profile, days: req.days }, () => this.issue(req), issuedDetail);
  }

  private async issue(req: IssueRequest): Promise<IssuedCertificate> {
    if (req.commonName === RECOVERY_IDENTITY && !req.recovery) {
      throw new CsrRejectedError(
        `"${RECOVERY_IDENTITY}" is reserved for the recovery certificate (certvault recovery init)`,
      );
    }
    const signer = await this.signer();
    const now = this.now();
    // Read at every issue: `ca set-crl-url` on a running server's CA applies to its next certificate.
    const shape = leafShape({
      profile: req.profile,
      family: req.family,
      days: req.days,
      sans: req.sans ?? [],
      commonName: req.commonName,
      now,
      issuerNotAfter: signer.certificate.notAfter,
      crlUrl: readCrlUrl(this.deps.paths),
    });
    const serial = randomSerial();
    const cert = await signCertificate({
      serial,
      subject: cnName(req.commonName),
      shape,
      publicKey: req.publicKey,
      issuer: signer,
    });
    const pem = cert.toString("pem") + "\n";
    const record = registryRow(serial, cert, req, now);
    await this.deps.registry.insert(record, req.guard);
    return { pem, record: { ...record, storedStatus: "active", revokedAt: null, revocationReason: null } };
  }

  /** `guard` runs in the revocation's transaction and may refuse it (the server's self-revocation budget). */
  async revoke(serial: string, reasonName?: string, opts: { guard?: RevokeGuard } = {}): Promise<CertificateRecord> {
    return this.audited("ca.revoke", { serial, reason: reasonName ?? "unspecified" }, () =>
      this.revokeNow(serial, reasonName, opts.guard),
    );
  }

  private async revokeNow(serial: string, reasonName?: string, guard?: RevokeGuard): Promise<CertificateRecord> {
    const reason = parseReason(reasonName);
    const existing = await this.deps.registry.get(serial);
    if (!existing) throw new CertificateNotFoundError(`no certificate with serial ${serial} in this CA's registry`);
    if (existing.storedStatus === "revoked") throw new AlreadyRevokedError(`certificate ${serial} is already revoked`);
    await this.deps.registry.revoke(serial, reason, this.now(), guard);
    const after = await this.deps.registry.get(serial);
    if (!after) throw new CertificateNotFoundError(`certificate ${serial} disappeared while revoking`);
    return after;
  }

  /**
   * A fresh CRL v2 over every revoked certificate that has not been expired for longer than one CRL lifetime (it was
   * on a CRL issued after its expiry, as RFC 5280 3.3 asks), with the next CRL number. Serial, time and reason only.
   */
  async crl(opts: { days?: number } = {}): Promise<x509.X509Crl> {
    const days = opts.days ?? 7;
    return this.audited("ca.crl", { days }, async () => {
      const signer = await this.signer();
      const now = this.now();
      const revoked = await this.deps.registry.crlEntries(new Date(now.getTime() - days * 86_400_000));
      const crlNumber = await this.deps.registry.nextCrlNumber();
      return buildCrl({ signer, revoked, crlNumber, now, days });
    });
  }

  async list(): Promise<CertificateRecord[]> {
    return this.deps.registry.list();
  }

  async show(serial: string): Promise<CertificateRecord> {
    const c = await this.deps.registry.get(serial);
    if (!c) throw new CertificateNotFoundError(`no certificate with serial ${serial} in this CA's registry`);
    return c;
  }
}
