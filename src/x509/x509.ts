/**
 * The one way into @peculiar/x509: it needs the reflect-metadata polyfill loaded first and a WebCrypto provider
 * set once. Import x509 from here, never from the package directly.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
export const nodeCrypto = webcrypto as unknown as Crypto;
