/**
 * `certvault ca list` / `ca show`: with --json, one JSON document on stdout and nothing else; the fields and the three
 * statuses (active, revoked, expired) that the contract names.
 */
import { expect } from "chai";
import { inParallel, runCli } from "../helpers/cli.js";
import type { RunResult } from "../helpers/cli.js";
import type { TestCA } from "../../src/testing/index.js";
import type { CaHome } from "../helpers/ca-fixture.js";
import { backendCa, BACKENDS, keysIn } from "../helpers/ca-backend.js";

const DAY = 86_400_000;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

interface Row {
  serial: string;
  subject: string;
  profile: string;
  notBefore: string;
  notAfter: string;
  status: string;
  revokedAt: string | null;
  revocationReason: string | null;
  pem?: string;
}

// List and show never sign: on a CA in a token they need no PIN (h.args, which carries it, is not used here).
for (const backend of BACKENDS)
  describe(`ca list / ca show (CLI) ${keysIn(backend)}`, function () {
    this.timeout(60_000);
    let testCa: TestCA | undefined;
    let h: CaHome;
    const serial: Record<"active" | "revoked" | "expired", string> = { active: "", revoked: "", expired: "" };
    let revokedAt: number;
    /** The CLI runs of the tests below: they only read the registry, so they run side by side once it is filled. */
    let runs: Record<"listJson" | "show" | "unknown" | "missing" | "list", RunResult>;

    before(async function () {
      ({ ca: testCa, h } = await backendCa(this, backend, { name: "Test" }));
      // Issued 200 days ago for 90 days: explicit dates, as the CA would have written them then.
      const then = Date.now() - 200 * DAY;
      serial.expired = (
        await testCa.issueClient("old", { notBefore: new Date(then - 60_000), notAfter: new Date(then + 90 * DAY) })
      ).serial;
      serial.active = (await testCa.issueServer(["svc.example"], { days: 90 })).serial;
      serial.revoked = (await testCa.issueClient("eve", { days: 90 })).serial;
      revokedAt = Date.now();
      await testCa.revoke(serial.revoked, "privilegeWithdrawn");
      const spelled = (serial.revoked.toUpperCase().match(/../g) ?? []).join(":");
      const argv = {
        listJson: ["ca", "list", "--json", "--home", h.home],
        show: ["ca", "show", spelled, "--json", "--home", h.home],
        unknown: ["ca", "show", "0123456789abcdef", "--json", "--home", h.home],
        missing: ["ca", "show", "--home", h.home],
        list: ["ca", "list", "--home", h.home],
      };
      const results = await inParallel(Object.values(argv).map((a) => () => runCli(a, { env: h.env })));
      runs = Object.fromEntries(Object.keys(argv).map((k, i) => [k, results[i] as RunResult])) as typeof runs;
    });
    after(() => testCa?.cleanup());

    it("list --json prints one JSON array with serial, subject, profile, dates, status and revocation fields", () => {
      const r = runs.listJson;
      expect(r.code, r.stderr).to.equal(0);
      const rows = JSON.parse(r.stdout) as Row[]; // throws if anything but one JSON document is on stdout
      expect(rows).to.be.an("array").with.length(3);
      for (const row of rows) {
        expect(row.serial)
          .to.match(/^[0-9a-f]+$/)
          .and.have.length.at.least(16);
        expect(row.notBefore).to.match(ISO);
        expect(row.notAfter).to.match(ISO);
        expect(Date.parse(row.notAfter)).to.be.above(Date.parse(row.notBefore));
        expect(row).to.have.property("revokedAt");
        expect(row).to.have.property("revocationReason");
      }
      const by = new Map(rows.map((x) => [x.serial, x]));
      expect(by.get(serial.active)).to.include({
        subject: "CN=svc.example",
        profile: "server",
        status: "active",
        revokedAt: null,
        revocationReason: null,
      });
      expect(by.get(serial.expired)).to.include({
        subject: "CN=old",
        profile: "client",
        status: "expired",
        revokedAt: null,
      });
      expect(Date.parse(by.get(serial.expired)?.notAfter ?? "")).to.be.below(Date.now());
      const rev = by.get(serial.revoked);
      expect(rev).to.include({
        subject: "CN=eve",
        profile: "client",
        status: "revoked",
        revocationReason: "privilegeWithdrawn",
      });
      expect(rev?.revokedAt).to.match(ISO);
      expect(Math.abs(Date.parse(rev?.revokedAt ?? "") - revokedAt)).to.be.below(60_000);
    });

    it("show SERIAL --json prints one object (with the PEM), also when the serial is given in upper case with colons", () => {
      const r = runs.show;
      expect(r.code, r.stderr).to.equal(0);
      const obj = JSON.parse(r.stdout) as Row;
      expect(obj).to.be.an("object").and.not.be.an("array");
      expect(obj).to.include({
        serial: serial.revoked,
        status: "revoked",
        revocationReason: "privilegeWithdrawn",
        subject: "CN=eve",
      });
      expect(obj.pem).to.match(/^-----BEGIN CERTIFICATE-----\n/);
    });

    it("show of an unknown serial exits 1; show without a serial exits 2", () => {
      const unknown = runs.unknown;
      expect(unknown.code).to.equal(1);
      expect(unknown.stdout).to.equal("");
      expect(unknown.stderr).to.match(/no certificate with serial 0123456789abcdef/);
      const missing = runs.missing;
      expect(missing.code).to.equal(2);
    });

    it("list without --json prints one line per certificate with its serial and status", () => {
      const r = runs.list;
      expect(r.code, r.stderr).to.equal(0);
      const lines = r.stdout.trim().split("\n");
      expect(lines).to.have.length(3);
      for (const [status, s] of Object.entries(serial))
        expect(
          lines.find((l) => l.startsWith(s)),
          status,
        ).to.match(new RegExp(`\\b${status}\\b`));
    });
  });
