/** certvault/client-sdk: keys made and kept on the user's machine, records sealed and opened there. */
export { CertvaultClient } from "./client.js";
export type { ClientOptions, Me, RecordInfo, RecordPage, RotationProgress, CertificateRequestView } from "./client.js";
export { FileKeyStore } from "./keystore.js";
export type { KeyStore, PassphraseProvider } from "./keystore.js";
export { createKeyAndCsr } from "./keygen.js";
export { clientFromProfile, profilePaths, configuredServer } from "./profile.js";
export { anchorsFromPem, verifyRecipient } from "./trust.js";
export { ServerError, UntrustedCertificateError, ConnectionError } from "./errors.js";
export { BadPassphraseError } from "../errors/index.js";
