/**
 * Issue 21, one error registry: every code has exactly one class whose instances carry the registry's status, exit
 * status and exposure; the contract's exit statuses hold (2 only for usage); no SDK refusal pretends to be an HTTP
 * answer; and a 5xx answer, written by the real error mapper on a loopback server and read by curl, carries the code's
 * fixed text and nothing of the internal message.
 */
import { expect } from "chai";
import Koa from "koa";
import type { AddressInfo } from "node:net";
import {
  CaMissingError,
  CertvaultError,
  ERRORS,
  InvalidInputError,
  InvalidQueryError,
  NotFoundError,
  Pkcs11TokenError,
  RouteNotFoundError,
  ServiceUnavailableError,
  errorSpec,
} from "../../src/errors/index.js";
import type { ErrorCode } from "../../src/errors/index.js";
import { ERROR_CLASSES } from "../../src/client-sdk/server-errors.js";
import { UntrustedRecordError } from "../../src/client-sdk/index.js";
import { errorMapper, httpAnswer } from "../../src/server/errors.js";
import { runProcess } from "../helpers/cli.js";

const CODES = Object.keys(ERRORS) as ErrorCode[];

/** Compiles only if `switch (err.code)` narrows to the registry's union (tsc runs in npm test). */
function usageOrRefusal(err: CertvaultError): "usage" | "refusal" {
  switch (err.code) {
    case "usage_error":
    case "passphrase_required":
    case "pkcs11_pin_required":
      return "usage";
    default: {
      const refusal: Exclude<ErrorCode, "usage_error" | "passphrase_required" | "pkcs11_pin_required"> = err.code;
      void refusal;
      return "refusal";
    }
  }
}

describe("error registry (issue 21)", function () {
  it("every code has one class, and its instances carry the registry's code, status, exit status and exposure", function () {
    for (const code of CODES) {
      const Cls = ERROR_CLASSES[code] as unknown as typeof CertvaultError;
      expect(Cls.code, code).to.equal(code);
      const e = Reflect.construct(CertvaultError, ["m"], Cls) as CertvaultError;
      expect(e, code).to.be.instanceOf(CertvaultError);
      expect([e.code, e.status, e.exitCode, e.expose], code).to.deep.equal([
        code,
        errorSpec(code).status,
        errorSpec(code).exit,
        errorSpec(code).expose,
      ]);
    }
  });

  it("a message reaches a client only below 500 (koa's rule), and every 5xx code has a fixed text of its own", function () {
    for (const code of CODES) {
      const s = errorSpec(code);
      if (s.status === null) continue;
      expect(s.expose, code).to.equal(s.status < 500);
      if (!s.expose) expect(s.message, `${code} needs a fixed public text`).to.be.a("string").and.not.equal("");
    }
  });

  it("exit statuses are the contract's: 2 for usage errors only, 1 for every other refusal", function () {
    const usage = CODES.filter((c) => errorSpec(c).exit === 2).sort();
    expect(usage).to.deep.equal(["passphrase_required", "pkcs11_pin_required", "usage_error"]);
    expect(CODES.every((c) => [1, 2].includes(errorSpec(c).exit))).to.equal(true);
    expect(usageOrRefusal(new InvalidInputError("x"))).to.equal("refusal");
  });

  it("the SDK's own refusals have no HTTP status (no made-up 502), and no code says 502", function () {
    for (const code of CODES) {
      const s = errorSpec(code);
      expect(s.status === null, code).to.equal(s.scope === "client");
      expect(s.status, code).to.not.equal(502);
    }
    expect(new UntrustedRecordError("forged").status).to.equal(null);
  });

  it("merged duplicates: a missing endpoint is a NotFoundError, an invalid query an InvalidInputError", function () {
    const route = new RouteNotFoundError();
    expect(route).to.be.instanceOf(NotFoundError);
    expect(httpAnswer(route).body).to.deep.equal({ error: { code: "not_found", message: "no such endpoint" } });
    expect(new InvalidQueryError("bad cursor")).to.be.instanceOf(InvalidInputError);
    expect(new InvalidQueryError("bad cursor").code).to.equal("invalid_query");
  });

  it("an SDK refusal that reaches the server is answered as a bare internal_error", function () {
    expect(httpAnswer(new UntrustedRecordError("/home/alice/.certvault/key.pem"))).to.deep.equal({
      status: 500,
      body: { error: { code: "internal_error", message: "internal error" } },
    });
  });

  describe("a forced 5xx through the error mapper on a loopback server, read by curl", function () {
    const SECRET_PATH = "/srv/certvault/ca/intermediate.key";
    let server: ReturnType<Koa["listen"]>;
    let base: string;
    const logged: object[] = [];

    before(async function () {
      const app = new Koa();
      app.use(async (ctx, next) => {
        ctx.state.log = { error: (o: object) => logged.push(o), warn: (o: object) => logged.push(o) };
        await next();
      });
      app.use(errorMapper);
      app.use((ctx) => {
        if (ctx.path === "/ca") throw new CaMissingError(`no CA in ${SECRET_PATH}: run "certvault ca init" first`);
        if (ctx.path === "/token") throw new Pkcs11TokenError(`cannot load the PKCS#11 module ${SECRET_PATH}.so`);
        if (ctx.path === "/seal") throw new ServiceUnavailableError("the caller's identity has no active certificate");
        if (ctx.path === "/bug") throw new TypeError(`Cannot read properties of undefined (at ${SECRET_PATH}.ts:12)`);
        throw new NotFoundError("no such record for you");
      });
      server = app.listen(0, "127.0.0.1");
      await new Promise((r) => server.once("listening", r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(function () {
      server?.close();
    });

    async function get(path: string): Promise<{ status: number; body: string }> {
      const r = await runProcess("curl", ["-sS", "-w", "\n%{http_code}", `${base}${path}`], { timeoutMs: 20_000 });
      expect(r.code).to.equal(0);
      const lines = r.stdout.trimEnd().split("\n");
      return { status: Number(lines.pop()), body: lines.join("\n") };
    }

    for (const [path, status, code] of [
      ["/ca", 500, "ca_missing"],
      ["/token", 500, "pkcs11_token_error"],
      ["/seal", 503, "service_unavailable"],
      ["/bug", 500, "internal_error"],
    ] as const) {
      it(`${path}: ${status} ${code} with the registry's fixed text, no path, no internal message`, async function () {
        const r = await get(path);
        expect(r.status).to.equal(status);
        expect(JSON.parse(r.body)).to.deep.equal({ error: { code, message: errorSpec(code).message } });
        expect(r.body).to.not.include("/srv").and.not.include("certvault ca init").and.not.include("TypeError");
        expect(r.body).to.not.include("no active certificate");
      });
    }

    it("the hidden message goes to the log instead, so the operator still learns what failed", function () {
      expect(JSON.stringify(logged)).to.include(`no CA in ${SECRET_PATH}`);
    });

    it("below 500 the error's own message reaches the client", async function () {
      const r = await get("/other");
      expect(r.status).to.equal(404);
      expect(JSON.parse(r.body)).to.deep.equal({ error: { code: "not_found", message: "no such record for you" } });
    });
  });
});
