/** The pure certificate profiles (ca/profiles.ts): validity window, key usage per key family and profile, SANs. */
import { expect } from "chai";
import fc from "fast-check";
import { x509 } from "../../src/x509/x509.js";
import {
  BACKDATE_MS,
  DEFAULT_DAYS,
  classifySans,
  intermediateShape,
  leafKeyUsage,
  leafShape,
  parseDays,
  parseProfile,
  rootShape,
  validity,
} from "../../src/ca/profiles.js";
import { UsageError } from "../../src/errors/index.js";

const DAY = 86_400_000;
const date = fc.date({
  min: new Date("2000-01-01T00:00:00Z"),
  max: new Date("2090-01-01T00:00:00Z"),
  noInvalidDate: true,
});

describe("ca/profiles (pure rules)", () => {
  describe("validity()", () => {
    it("never ends after the issuer's notAfter, never lasts longer than asked, starts BACKDATE_MS before now", () => {
      fc.assert(
        fc.property(date, fc.integer({ min: 1, max: 825 }), date, (now, days, issuerNotAfter) => {
          const v = validity(now, days, issuerNotAfter);
          expect(v.notAfter.getTime()).to.be.at.most(issuerNotAfter.getTime());
          expect(v.notAfter.getTime()).to.be.at.most(now.getTime() + days * DAY);
          expect(v.notBefore.getTime()).to.equal(now.getTime() - BACKDATE_MS);
          if (issuerNotAfter.getTime() >= now.getTime() + days * DAY)
            expect(v.notAfter.getTime()).to.equal(now.getTime() + days * DAY);
        }),
        { numRuns: 500 },
      );
    });

    it("keeps the intermediate inside the root and the leaf inside the intermediate", () => {
      const now = new Date("2030-06-01T00:00:00Z");
      const root = rootShape(now);
      const int = intermediateShape(now, root.notAfter);
      expect(int.notAfter.getTime()).to.be.at.most(root.notAfter.getTime());
      const nearEnd = new Date(int.notAfter.getTime() - 10 * DAY);
      const leaf = leafShape({
        profile: "server",
        family: "EC",
        days: 365,
        sans: [],
        commonName: "svc.example",
        now: nearEnd,
        issuerNotAfter: int.notAfter,
      });
      expect(leaf.notAfter.getTime()).to.equal(int.notAfter.getTime());
    });
  });

  describe("key usage", () => {
    const table = [
      { family: "EC", profile: "client", ku: ["digitalSignature", "keyAgreement"] },
      { family: "RSA", profile: "client", ku: ["digitalSignature", "keyEncipherment"] },
      { family: "EC", profile: "server", ku: ["digitalSignature"] },
      { family: "RSA", profile: "server", ku: ["digitalSignature", "keyEncipherment"] },
    ] as const;
    for (const row of table) {
      it(`${row.family} ${row.profile}: ${row.ku.join(" + ")}, never a CA usage`, () => {
        const ku = leafKeyUsage(row.family, row.profile);
        expect([...ku].sort()).to.deep.equal([...row.ku].sort());
        expect(ku).to.not.include("keyCertSign").and.not.include("cRLSign");
      });
    }

    it("leafShape: CA:false, one EKU matching the profile, server SAN defaults to the CN", () => {
      const now = new Date("2030-01-01T00:00:00Z");
      const issuerNotAfter = new Date("2035-01-01T00:00:00Z");
      const client = leafShape({
        profile: "client",
        family: "EC",
        days: DEFAULT_DAYS.client,
        sans: [],
        commonName: "alice",
        now,
        issuerNotAfter,
      });
      expect(client.ca).to.equal(false);
      expect(client.extendedKeyUsage).to.deep.equal(["clientAuth"]);
      expect(client.sans).to.deep.equal({ dns: [], ip: [] });
      const server = leafShape({
        profile: "server",
        family: "RSA",
        days: DEFAULT_DAYS.server,
        sans: [],
        commonName: "Svc.Example",
        now,
        issuerNotAfter,
      });
      expect(server.extendedKeyUsage).to.deep.equal(["serverAuth"]);
      expect(server.sans).to.deep.equal({ dns: ["svc.example"], ip: [] });
      expect(server.notAfter.getTime() - now.getTime()).to.equal(365 * DAY);
    });

    it("CA shapes: root pathlen 1, intermediate pathlen 0, keyCertSign + cRLSign only", () => {
      const now = new Date();
      const root = rootShape(now);
      expect(root.ca).to.deep.equal({ pathLength: 1 });
      expect(intermediateShape(now, root.notAfter).ca).to.deep.equal({ pathLength: 0 });
      expect(root.keyUsage).to.deep.equal(["keyCertSign", "cRLSign"]);
      expect(root.extendedKeyUsage).to.deep.equal([]);
    });
  });

  describe("classifySans()", () => {
    it("sorts DNS names and IP addresses", () => {
      expect(
        classifySans(["localhost", "127.0.0.1", "::1", "*.Example.COM", "2001:db8::1", "xn--bcher-kva.example"]),
      ).to.deep.equal({
        dns: ["localhost", "*.example.com", "xn--bcher-kva.example"],
        ip: ["127.0.0.1", "::1", "2001:db8::1"],
      });
    });

    const garbage = [
      "",
      " ",
      "foo bar",
      "a..b",
      "-a.example",
      "a-.example",
      "exa_mple.com",
      "*.*.example",
      "a.",
      "x/y",
      "1.2.3.4:443",
      "256.1.1.1",
      "1.2.3.04",
      "999",
      ":",
      ":::",
      "1:2:3",
      "fe80::1%eth0",
      "::ffff:1.2.3.4",
      "http://example.com",
      "a".repeat(64) + ".example",
      "é.example",
    ];
    for (const g of garbage) {
      it(`rejects ${JSON.stringify(g)} with a UsageError`, () => {
        expect(() => classifySans([g])).to.throw(UsageError, /neither a DNS name nor an IP address/);
      });
    }

    it("accepts every generated IPv4 address and hostname", () => {
      fc.assert(
        fc.property(fc.ipV4(), (ip) => {
          expect(classifySans([ip]).ip).to.deep.equal([ip]);
        }),
        { numRuns: 300 },
      );
      fc.assert(
        fc.property(fc.domain(), (d) => {
          expect(classifySans([d]).dns).to.deep.equal([d.toLowerCase()]);
        }),
        { numRuns: 300 },
      );
    });

    it("accepts hex IPv6 addresses, and what it accepts encodes to the same address in a SAN", () => {
      fc.assert(
        fc.property(
          fc.ipV6().filter((a) => !a.includes(".")),
          (addr) => {
            const { ip } = classifySans([addr]);
            expect(ip).to.deep.equal([addr]);
            const ext = new x509.SubjectAlternativeNameExtension([{ type: "ip", value: addr }]);
            const decoded = new x509.SubjectAlternativeNameExtension(ext.rawData).names.items[0]?.value ?? "";
            expect(new URL(`http://[${decoded}]/`).hostname).to.equal(new URL(`http://[${addr}]/`).hostname);
          },
        ),
        { numRuns: 300 },
      );
    });

    it("rejects any string with characters that belong to neither (fuzz)", () => {
      fc.assert(
        fc.property(
          fc.string({ minLength: 1, maxLength: 40 }).filter((s) => /[^a-zA-Z0-9.*:-]/.test(s)),
          (s) => {
            expect(() => classifySans([s])).to.throw(UsageError);
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  describe("parseProfile() / parseDays()", () => {
    it("accepts client and server only", () => {
      expect(parseProfile("client")).to.equal("client");
      expect(parseProfile("server")).to.equal("server");
      for (const bad of [undefined, "", "Client", "ca", "toString"])
        expect(() => parseProfile(bad)).to.throw(UsageError);
    });

    it("defaults to 90 (client) / 365 (server) days and refuses 0, fractions, negatives and over 825", () => {
      expect(parseDays(undefined, "client")).to.equal(90);
      expect(parseDays(undefined, "server")).to.equal(365);
      expect(parseDays("30", "client")).to.equal(30);
      for (const bad of ["0", "-1", "1.5", "826", "abc", ""])
        expect(() => parseDays(bad, "client"), bad).to.throw(UsageError);
    });
  });
});
