/**
 * Text that reaches a terminal from elsewhere (the server, the database, a certificate) is made harmless here before
 * the CLI prints it: a database writer or a hostile server must not be able to clear the screen, move the cursor,
 * set the window title, reorder a line with bidi overrides or hide characters. Printable Unicode stays as it is.
 *
 * Escaped, as a visible `\u{XXXX}`: controls C0, DEL and C1 (Cc, ESC and CR and TAB included), format characters
 * (Cf: bidi embeddings, overrides and isolates, LRM/RLM/ALM, zero-width characters, word joiner, BOM, tags), lone
 * surrogates (Cs), unassigned code points (Cn: a later Unicode may make them format characters), and the line and
 * paragraph separators (Zl, Zp). A backslash is not escaped: `\u{001B}` in the output may have been those 8
 * characters in the input; it never is an ESC.
 */

const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/gu;
/** The same set minus LF: in JSON.stringify's output a raw LF is only ever its own line break. */
const UNSAFE_IN_JSON = /(?!\n)[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/gu;

function visible(ch: string): string {
  return `\\u{${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}}`;
}

/** One line of text, safe to print: every unsafe character (newlines included) becomes `\u{XXXX}`. */
export function safeForTerminal(text: string): string {
  return String(text).replace(UNSAFE, visible);
}

/** Several lines (a PEM, a usage message): each line made safe, the line breaks (LF) kept. */
export function safeLines(text: string): string {
  return String(text).split("\n").map(safeForTerminal).join("\n");
}

/** UTF-16 `\uXXXX` escapes (a surrogate pair for code points above U+FFFF): what JSON itself spells. */
function jsonEscape(ch: string): string {
  let out = "";
  for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
}

/**
 * JSON.stringify, then every character that is unsafe on a terminal and that JSON.stringify leaves raw (DEL, C1,
 * U+2028/U+2029, bidi and other format characters, unassigned code points) written as `\uXXXX`. Raw such characters
 * only occur inside string literals, where the escape means the same: the document parses to the same value.
 */
export function terminalSafeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, jsonEscape);
}
