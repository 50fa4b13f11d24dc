/**
 * The safe set of identity names (ca/identity-name.ts, docs/pki.md "Identity names"): NFC, no control, format, bidi,
 * zero-width, invisible, private-use or unassigned characters, single ASCII spaces inside only, 1-64 code points.
 */
import { expect } from "chai";
import fc from "fast-check";
import { identityProblem, MAX_IDENTITY_LENGTH, RECOVERY_IDENTITY } from "../../src/ca/profiles.js";

const ACCEPTED: [string, string][] = [
  ["alice", "plain ASCII"],
  ["a b", "one space inside"],
  ["Jean-Luc Picard", "spaces and a hyphen"],
  ["\u00e9lodie", "precomposed e-acute (NFC)"],
  ["\u674e\u96f7", "CJK"],
  ["\u0410\u043b\u0438\u0441\u0430", "Cyrillic"],
  ["alice\u0430", "mixed scripts (allowed, see docs/pki.md)"],
  ["#0c03626f62", "leading # (DN-special, harmless as a UTF8String)"],
  ["x".repeat(MAX_IDENTITY_LENGTH), "64 code points"],
  ["\u{1F600}".repeat(MAX_IDENTITY_LENGTH), "64 astral code points (128 UTF-16 units)"],
];

const REFUSED: [string, string][] = [
  ["", "empty"],
  ["x".repeat(MAX_IDENTITY_LENGTH + 1), "65 code points"],
  [RECOVERY_IDENTITY, "the reserved recovery name"],
  ["ali\u202Ece", "RIGHT-TO-LEFT OVERRIDE"],
  ["ali\u2066ce\u2069", "bidi isolates"],
  ["ali\u200Fce", "RIGHT-TO-LEFT MARK"],
  ["ali\u061Cce", "ARABIC LETTER MARK"],
  ["bob\u200B", "ZERO WIDTH SPACE"],
  ["b\u200Dob", "ZERO WIDTH JOINER"],
  ["b\u2060ob", "WORD JOINER"],
  ["\uFEFFbob", "BOM"],
  ["bob\u{E0041}", "a tag character"],
  ["\u0085x", "C1 NEXT LINE"],
  ["x\u009B2J", "C1 CSI"],
  ["x\u001B[2J", "ESC"],
  ["a\tb", "TAB"],
  ["a\nb", "LF"],
  ["a\u007Fb", "DEL"],
  ["a\u2028b", "LINE SEPARATOR"],
  ["a\u2029b", "PARAGRAPH SEPARATOR"],
  ["a\u00A0b", "NO-BREAK SPACE"],
  ["a\u3000b", "IDEOGRAPHIC SPACE"],
  ["a\u2003b", "EM SPACE"],
  ["a\uE000b", "private use"],
  ["a\u0378b", "unassigned"],
  ["a\uD800b", "lone surrogate"],
  ["a\uFFFDb", "REPLACEMENT CHARACTER"],
  ["a\u115Fb", "HANGUL CHOSEONG FILLER (invisible)"],
  ["a\u034Fb", "COMBINING GRAPHEME JOINER (invisible)"],
  ["e\u0301", "NFD e + combining acute"],
  ["\u0301e", "a leading combining mark"],
  [" a", "leading space"],
  ["a ", "trailing space"],
  ["a  b", "two spaces"],
];

/** The name as an ASCII-only JS string literal: test titles reach the terminal too. */
function show(name: string): string {
  if (name.length > 24) return `${show(name.slice(0, 8))}... (${[...name].length} code points)`;
  return JSON.stringify(name).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

describe("identity names: the safe set", function () {
  for (const [name, why] of ACCEPTED) {
    it(`accepts ${show(name)} (${why})`, function () {
      expect(identityProblem(name)).to.equal(undefined);
    });
  }
  for (const [name, why] of REFUSED) {
    it(`refuses ${show(name)} (${why}), with a reason that is itself safe to print`, function () {
      const problem = identityProblem(name);
      expect(problem).to.be.a("string");
      expect(problem).to.match(/^[\x20-\x7e]+$/);
    });
  }

  it("property: every accepted name is NFC, 1-64 code points, free of Cc/Cf/Cs/Co/Cn/Zl/Zp and of spaces at the ends", function () {
    const unit = fc.oneof(
      fc.constantFrom(
        "a",
        "Z",
        "0",
        " ",
        "-",
        "\u00e9",
        "e",
        "\u0301",
        "\u202E",
        "\u200B",
        "\u0085",
        "\u001B",
        "\u00A0",
        "\uFEFF",
        "\u2028",
        "\uD800",
        "\uDC00",
      ),
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    );
    const name = fc.array(unit, { minLength: 0, maxLength: 70 }).map((parts) => parts.join(""));
    fc.assert(
      fc.property(name, (n) => {
        if (identityProblem(n) !== undefined) return;
        expect(n.normalize("NFC")).to.equal(n);
        expect(n).to.not.match(/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]/u);
        expect(n.trim()).to.equal(n);
        expect([...n].length).to.be.within(1, MAX_IDENTITY_LENGTH);
      }),
      { numRuns: 3000 },
    );
  });
});
