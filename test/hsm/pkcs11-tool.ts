/**
 * What is inside a token, as pkcs11-tool (opensc) reads it: the independent peer for token objects, as openssl is for
 * certificates. Logs in with the token's PIN; each call is one short pkcs11-tool run.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runProcess } from "../helpers/cli.js";
import { opensslOk } from "../helpers/openssl.js";
import type { TokenRef } from "./softhsm.js";

export interface PrivateKeyObject {
  label: string;
  /** CKA_ID, lower-case hex. */
  id: string;
  /** pkcs11-tool's "Access:" flags, e.g. "sensitive", "always sensitive", "never extractable", "local". */
  access: string[];
}

/** Private key objects in a `pkcs11-tool --list-objects` listing. */
export function privateKeysOf(listing: string): PrivateKeyObject[] {
  const keys: PrivateKeyObject[] = [];
  let current: PrivateKeyObject | undefined;
  for (const line of listing.split("\n")) {
    if (/^Private Key Object/.test(line)) {
      current = { label: "", id: "", access: [] };
      keys.push(current);
    } else if (/^\S/.test(line)) {
      current = undefined;
    } else if (current) {
      const m = /^\s+(label|ID|Access):\s*(.*)$/.exec(line);
      const value = (m?.[2] ?? "").trim();
      if (m?.[1] === "label") current.label = value;
      if (m?.[1] === "ID") current.id = value.toLowerCase();
      if (m?.[1] === "Access") current.access = value.split(",").map((s) => s.trim());
    }
  }
  return keys;
}

async function pkcs11Tool(token: TokenRef, args: string[]): Promise<string> {
  const r = await runProcess("pkcs11-tool", ["--module", token.module, "--token-label", token.label, ...args], {
    env: { ...process.env, ...token.env },
    timeoutMs: 30_000,
  });
  if (r.code !== 0) throw new Error(`pkcs11-tool ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Every private key in the token (after logging in with its PIN). */
export async function tokenPrivateKeys(token: TokenRef): Promise<PrivateKeyObject[]> {
  return privateKeysOf(await pkcs11Tool(token, ["--login", "--pin", token.pin, "--list-objects", "--type", "privkey"]));
}

/** A DER TLV (short or long form length; nothing here reaches 64 KiB). */
function der(tag: number, content: Buffer): Buffer {
  const n = content.length;
  if (n < 0x80) return Buffer.concat([Buffer.from([tag, n]), content]);
  const len = Buffer.from(n.toString(16).padStart(n > 0xff ? 4 : 2, "0"), "hex");
  return Buffer.concat([Buffer.from([tag, 0x80 | len.length]), len, content]);
}

/** The content of a DER OCTET STRING (CKA_EC_POINT holds the point wrapped in one). */
function octets(tlv: Buffer): Buffer {
  if (tlv[0] !== 0x04) throw new Error("CKA_EC_POINT is not a DER OCTET STRING");
  const first = tlv[1] as number;
  return tlv.subarray(first < 0x80 ? 2 : 2 + (first & 0x7f));
}

const ID_EC_PUBLIC_KEY = Buffer.from("06072a8648ce3d0201", "hex");

/**
 * The token's public key object with this CKA_ID, as PEM SPKI (what `openssl x509 -pubkey` prints for a certificate).
 * RSA: pkcs11-tool --read-object. EC: built from the CKA_EC_PARAMS and CKA_EC_POINT that the listing prints, because
 * pkcs11-tool (opensc 0.23 with OpenSSL 3) fails to read a P-384 public key object ("cannot create EVP_PKEY").
 */
export async function tokenPublicKeyPem(token: TokenRef, id: string, scratchDir: string): Promise<string> {
  const file = join(scratchDir, `pubkey-${id}.der`);
  const listing = await pkcs11Tool(token, ["--list-objects", "--type", "pubkey"]);
  const block = listing
    .split(/^(?=Public Key Object)/m)
    .find((b) => new RegExp(`^\\s+ID:\\s+${id}\\s*$`, "im").test(b));
  if (!block) throw new Error(`no public key object with ID ${id} in token "${token.label}"`);
  if (/^Public Key Object; EC/.test(block)) {
    const hex = (name: string): Buffer =>
      Buffer.from(new RegExp(`${name}:\\s+([0-9a-f]+)`, "i").exec(block)?.[1] ?? "", "hex");
    const spki = der(
      0x30,
      Buffer.concat([
        der(0x30, Buffer.concat([ID_EC_PUBLIC_KEY, hex("EC_PARAMS")])),
        der(0x03, Buffer.concat([Buffer.from([0]), octets(hex("EC_POINT"))])),
      ]),
    );
    writeFileSync(file, spki);
  } else {
    await pkcs11Tool(token, ["--read-object", "--type", "pubkey", "--id", id, "--output-file", file]);
  }
  return opensslOk(["pkey", "-pubin", "-inform", "DER", "-in", file, "-pubout"]);
}
