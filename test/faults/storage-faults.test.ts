/**
 * The one mapping of driver errors to 503s (errors/storage-faults.ts via asCertvaultError) and the HTTP mapper's
 * Retry-After, on the error shapes the drivers really produce (seen in test/faults/*: sqlite3's SQLITE_FULL and
 * SQLITE_IOERR, pg's 57P01 and "Connection terminated", net's ECONNREFUSED, knex's pool timeout).
 */
import { expect } from "chai";
import { DatabaseUnavailableError, StorageFullError, asCertvaultError } from "../../src/errors/index.js";
import { storageFault } from "../../src/errors/storage-faults.js";

function err(props: Record<string, unknown>, message = "x"): Error {
  return Object.assign(new Error(message), props);
}

describe("faults: driver errors become 503 database_unavailable / storage_full", function () {
  const unavailable = [
    err({ code: "SQLITE_IOERR" }, "COMMIT; - SQLITE_IOERR: disk I/O error"),
    err({ code: "SQLITE_READONLY" }),
    err({ code: "SQLITE_BUSY" }),
    err({ code: "57P01" }, "terminating connection due to administrator command"),
    err({ code: "08006" }),
    err({ code: "25006" }),
    err({ code: "ECONNREFUSED" }, "connect ECONNREFUSED 127.0.0.1:5432"),
    err({}, "insert into `records` ... - Connection terminated unexpectedly"),
    err({ name: "KnexTimeoutError" }, "Knex: Timeout acquiring a connection. The pool is probably full."),
    new AggregateError([err({ code: "ECONNREFUSED" })], "connect failed"),
    new Error("wrapped", { cause: err({ code: "57P03" }) }),
  ];
  for (const e of unavailable) {
    it(`${(e as { code?: string }).code ?? e.name}: ${e.message.slice(0, 50)} → database_unavailable`, function () {
      expect(storageFault(e)).to.equal("unavailable");
      const c = asCertvaultError(e);
      expect(c).to.be.instanceOf(DatabaseUnavailableError);
      expect([c.status, c.code, (c as DatabaseUnavailableError).retryAfterSeconds]).to.deep.equal([
        503,
        "database_unavailable",
        2,
      ]);
      expect(c.message).to.not.include("SQLITE").and.not.include("ECONN");
    });
  }
  for (const e of [
    err({ code: "SQLITE_FULL" }, "SQLITE_FULL: database or disk is full"),
    err({ code: "53100" }),
    err({ code: "ENOSPC" }),
  ]) {
    it(`${(e as { code?: string }).code ?? ""} → storage_full`, function () {
      const c = asCertvaultError(e);
      expect(c).to.be.instanceOf(StorageFullError);
      expect([c.status, c.code]).to.deep.equal([503, "storage_full"]);
    });
  }
  for (const e of [
    err({ code: "SQLITE_CONSTRAINT" }),
    err({ code: "23505" }),
    err({ code: "SQLITE_CORRUPT" }),
    new TypeError("x is undefined"),
    "a string",
  ]) {
    it(`not a storage fault: ${String((e as { code?: string }).code ?? e)} → 500 internal_error`, function () {
      expect(storageFault(e)).to.equal(undefined);
      expect(asCertvaultError(e).status).to.equal(500);
    });
  }
});
