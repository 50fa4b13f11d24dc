/**
 * Certificate serial numbers: 16 random bytes, first byte kept in 0x10..0x7f so that the DER INTEGER is positive,
 * needs no leading zero and always prints as 32 hex digits (about 126 bits of entropy, CA/B Forum asks for 64).
 */
import { randomBytes } from "node:crypto";
import { UsageError } from "../errors/index.js";

export function randomSerial(random: (n: number) => Uint8Array = randomBytes): string {
  const b = Buffer.from(random(16));
  b[0] = 0x10 + ((b[0] ?? 0) % 0x70);
  return b.toString("hex");
}

/** Canonical spelling of a serial given by a user: lower-case hex, no separators, no leading zero bytes. */
export function normalizeSerial(input: string): string {
  const hex = input.trim().toLowerCase().replace(/^0x/, "").replace(/[:\s]/g, "");
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 80)
    throw new UsageError(`"${input}" is not a hexadecimal serial number`);
  const stripped = hex.replace(/^(00)+/, "");
  return stripped.length % 2 === 1 ? `0${stripped}` : stripped || "00";
}
