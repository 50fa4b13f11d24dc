/** cli/terminal.ts on its own: what is escaped, what is kept, and that the JSON stays the same JSON. */
import { expect } from "chai";
import fc from "fast-check";
import { safeForTerminal, safeLines, terminalSafeJson } from "../../src/cli/terminal.js";

const RAW_UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

describe("terminal: safeForTerminal, safeLines, terminalSafeJson", function () {
  it("escapes C0, DEL, C1, bidi, zero-width, BOM, tags, separators and lone surrogates as \\u{XXXX}", function () {
    expect(safeForTerminal("a\x1b[2J\r\t\n\x7f\u0085\u009b")).to.equal(
      "a\\u{001B}[2J\\u{000D}\\u{0009}\\u{000A}\\u{007F}\\u{0085}\\u{009B}",
    );
    expect(safeForTerminal("\u202Eevil\u2066\u200B\u200D\u200F\u061C\uFEFF\u2028\u2029")).to.equal(
      "\\u{202E}evil\\u{2066}\\u{200B}\\u{200D}\\u{200F}\\u{061C}\\u{FEFF}\\u{2028}\\u{2029}",
    );
    expect(safeForTerminal("x\u{E0041}\uD800y\uDC00")).to.equal("x\\u{E0041}\\u{D800}y\\u{DC00}");
  });

  it("keeps printable Unicode: accents, CJK, emoji, combining marks, private use, spaces", function () {
    const text = "\u00e9lodie \u674e\u96f7 \u{1F600} e\u0301 \uE000 #\\,+";
    expect(safeForTerminal(text)).to.equal(text);
  });

  it("safeLines keeps the line feeds and escapes everything else", function () {
    expect(safeLines("one\x1b[2J\ntwo\r\n")).to.equal("one\\u{001B}[2J\ntwo\\u{000D}\n");
  });

  it("property: the output never holds a raw unsafe character (safeLines: bar LF)", function () {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(safeForTerminal(s)).to.not.match(RAW_UNSAFE);
        expect(safeLines(s).replace(/\n/g, "")).to.not.match(RAW_UNSAFE);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: terminalSafeJson is JSON for the same value, with no raw unsafe character but its own line feeds", function () {
    const value = fc.dictionary(
      fc.string({ unit: "binary" }),
      fc.oneof(fc.string({ unit: "binary" }), fc.integer(), fc.array(fc.string({ unit: "binary" }))),
    );
    fc.assert(
      fc.property(value, fc.constantFrom(undefined, 2), (v, indent) => {
        const out = terminalSafeJson(v, indent);
        expect(JSON.parse(out)).to.deep.equal(JSON.parse(JSON.stringify(v)));
        expect(out.replace(/\n/g, "")).to.not.match(RAW_UNSAFE);
      }),
      { numRuns: 1000 },
    );
  });
});
