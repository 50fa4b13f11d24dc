/**
 * certvault/testing: throwaway CAs, certificates (including deliberately broken ones) and real servers for mocha
 * tests, ours and our users'. See docs/testing.md.
 */
export { createTestCA, TEST_PASSPHRASE, TEST_KDF_ITERATIONS } from "./test-ca.js";
export type { TestCA, TestCAOptions, TestIdentity, IssueOptions } from "./test-ca.js";
export { startTestServer } from "./test-server.js";
export type { TestServer, TestServerOptions } from "./test-server.js";
export { LEAF_KEY_TYPES } from "./key-cache.js";
export type { LeafKeyType } from "./key-cache.js";
