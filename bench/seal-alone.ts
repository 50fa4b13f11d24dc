/**
 * The baseline of the server-sealed POST row: the work the server does to turn a 1 KiB plaintext upload into its
 * envelope (server/services/records.ts envelopeFor: signRecord with the server's key and certificate, then seal to
 * the caller's certificate, contentType "signed-data"), alone, in one process pinned to the server's core (the bench
 * starts it there), nothing else: no TLS, no HTTP, no database. Same recipient certificate and key as the POST row.
 * Prints `seals/s N` after `seconds` of calls (and a short warm-up).
 * Usage: node --import tsx bench/seal-alone.ts SERVER_KEY PASSPHRASE SERVER_CERT INTERMEDIATE RECIPIENT_CERT SECONDS
 */
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { seal, signRecord } from "../src/envelope/index.js";
import { pemToDer } from "../src/policy/registry-certificate.js";

const [, , keyFile, passphrase, certFile, intermediateFile, recipientFile, secondsArg] = process.argv;
const key = createPrivateKey({ key: readFileSync(keyFile as string), passphrase: passphrase as string });
// As the server holds them (server/lifecycle/start-steps.ts appFor): certificates as DER, decoded from PEM once.
const der = (pem: string): Uint8Array | string => pemToDer(pem) ?? pem;
const signer = {
  key,
  certificate: der(readFileSync(certFile as string, "utf8")),
  chain: [der(readFileSync(intermediateFile as string, "utf8"))],
};
const recipient = readFileSync(recipientFile as string, "utf8");
const plaintext = new Uint8Array(1024).fill(0x61);
let n = 0;
const one = (): void => {
  const signed = signRecord(plaintext, signer, { owner: "bench", id: (n++).toString(16).padStart(32, "0") });
  seal(signed, [recipient], { contentType: "signed-data" });
};
for (let i = 0; i < 200; i++) one();
const ms = Number(secondsArg ?? 2) * 1000;
const start = performance.now();
let count = 0;
while (performance.now() - start < ms) {
  one();
  count++;
}
process.stdout.write(`seals/s ${((count * 1000) / (performance.now() - start)).toFixed(1)}\n`);
