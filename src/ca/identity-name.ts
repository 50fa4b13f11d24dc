/**
 * The safe set of identity names (certificate CN = the identity the server knows a caller by). One rule, used by the
 * CA (CSRs), the SDK's keygen, the server (identities named in a path, and certificates at login) and the tests.
 * Documented in docs/pki.md ("Identity names"); pure, no I/O.
 *
 * A name is accepted when it is 1 to 64 Unicode code points, in NFC, and holds only visible characters with single
 * ASCII spaces between them: no control (Cc), format (Cf: bidi overrides and isolates, zero-width characters, BOM,
 * tags), private-use (Co), surrogate (Cs), unassigned (Cn) characters, no line or paragraph separators (Zl, Zp), no
 * default-ignorable (invisible) code points, no U+FFFD, no whitespace but U+0020, no leading combining mark.
 * Mixed scripts are allowed (people's names mix them); look-alikes across scripts are left to the administrator,
 * who approves every name, and every printed name is escaped for the terminal (cli/terminal.ts).
 */

/** X.509 ub-common-name (RFC 5280): 64 characters, counted here as Unicode code points (at most 256 UTF-8 bytes). */
export const MAX_IDENTITY_LENGTH = 64;

/** The CN of the recovery certificate: reserved, so no CSR (and no user) can ever get a certificate by that name. */
export const RECOVERY_IDENTITY = "certvault-recovery";

/** Characters never allowed. \p{Cn} follows the Unicode version of the running Node (Node 20: Unicode 15). */
const FORBIDDEN = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\uFFFD]/u;
/** Whitespace other than the ASCII space (NBSP, ideographic space, en quad...). */
const OTHER_WHITESPACE = /(?! )\p{White_Space}/u;

/** U+XXXX, never the character itself: the reason is printed and must be safe to print. */
function codePoint(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Why `name` is outside the safe set of identity names, or undefined when it is inside. Does not consider the
 * reserved recovery name (the server uses this for certificates already issued, the recovery one included).
 */
export function identityNameProblem(name: string): string | undefined {
  const points = [...name];
  if (points.length === 0 || points.length > MAX_IDENTITY_LENGTH)
    return `the name must be 1 to ${MAX_IDENTITY_LENGTH} characters`;
  const forbidden = FORBIDDEN.exec(name);
  if (forbidden)
    return `the name contains ${codePoint(forbidden[0])} (control, format, bidi, invisible, private-use or unassigned characters are not allowed)`;
  const space = OTHER_WHITESPACE.exec(name);
  if (space)
    return `the name contains ${codePoint(space[0])}: the only whitespace allowed is a single ASCII space between characters`;
  if (name.startsWith(" ") || name.endsWith(" ") || name.includes("  "))
    return "the name has surrounding or repeated spaces";
  if (name.normalize("NFC") !== name) return "the name is not in Unicode normalization form C (NFC): compose it first";
  if (/^\p{M}/u.test(name)) return "the name starts with a combining mark";
  return undefined;
}

/** Why a proposed identity (certificate CN) is unacceptable, or undefined when it is fine. Shared by the CA and the SDK's keygen. */
export function identityProblem(name: string): string | undefined {
  const problem = identityNameProblem(name);
  if (problem) return problem;
  if (name === RECOVERY_IDENTITY) return `"${RECOVERY_IDENTITY}" is reserved for the recovery certificate`;
  return undefined;
}
