/** certvault/client-sdk: keys made and kept on the user's machine, records sealed and opened there. */
export { CertvaultClient, newRecordId } from "./client.js";
export type {
  ClientOptions,
  Me,
  RecordInfo,
  RecordPage,
  RotationProgress,
  CertificateRequestView,
  ReadOptions,
  OpenedRecord,
  RecordKind,
} from "./client.js";
export { MemoryTrustState, FileTrustState, normalizeFingerprint } from "./trust-state.js";
export type { TrustState, TrustStateData } from "./trust-state.js";
export { FileKeyStore } from "./keystore.js";
export type { KeyStore, PassphraseProvider } from "./keystore.js";
export { createKeyAndCsr } from "./keygen.js";
export { clientFromProfile, profilePaths, configuredServer } from "./profile.js";
export { anchorsFromPem, verifyRecipient } from "./trust.js";
export {
  ServerError,
  UntrustedCertificateError,
  ConnectionError,
  IdentityMismatchError,
  UntrustedRecordError,
  UnsignedRecordError,
  ServerSealedRecordError,
  UntrustedGrantError,
  UntrustedCrlError,
  RecoveryPinError,
  BadAnswerError,
} from "./errors.js";
export { fromServerAnswer } from "./server-errors.js";
export { BadPassphraseError, CertvaultError, RootPinMismatchError } from "../errors/index.js";
export type { ErrorCode } from "../errors/index.js";
