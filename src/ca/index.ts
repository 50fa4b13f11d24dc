/** certvault/ca: the certificate authority as a library (what `certvault ca` runs). */
export { CertificateAuthority, fingerprintOf, cnName } from "./authority.js";
export { initCa } from "./ca-init.js";
export type { AuthorityDeps, IssuedCertificate } from "./authority.js";
export { caPaths, caExists, readCaCertificates, loadIntermediateSigner } from "./ca-files.js";
export type { CaPaths, CaCertificates } from "./ca-files.js";
export { vetCsr } from "./csr.js";
export { PROFILES, DEFAULT_DAYS, MAX_DAYS, identityProblem } from "./profiles.js";
export type { Profile } from "./profiles.js";
export { REASONS, parseReason } from "./reasons.js";
export type { ReasonName } from "./reasons.js";
export { normalizeSerial } from "./serial.js";
export type { Signer } from "./sign.js";
