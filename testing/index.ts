/** certvault/testing: throwaway CAs, certificates and servers for mocha tests (ours and our users'). */
export { createTestCA, TEST_PASSPHRASE } from "./test-ca.js";
export type { TestCA, TestIdentity, IssueOptions } from "./test-ca.js";
export { startTestServer } from "./test-server.js";
export type { TestServer } from "./test-server.js";
