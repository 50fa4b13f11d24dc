/**
 * Requests to fuzz the API with, as structured specs turned into wire bytes when the samples and the server's
 * records exist: methods, paths (templates with ids near the 32-hex pattern, encodings, dot segments, overlong),
 * query strings (limit/cursor junk), headers (Content-Type variants, If-Match/If-None-Match junk), bodies (random,
 * JSON, valid and mutated envelopes, grant statements and CSRs) and framing (Content-Length, chunked; for the
 * framing target also mismatched lengths, truncated and broken chunked bodies, control bytes, unknown methods).
 */
import fc from "fast-check";
import { randomBytes } from "node:crypto";
import { type Mutation, applyMutation, mutation, pem } from "../mutate.js";
import { ADMIN, USER } from "../world.js";
import type { World } from "../world.js";

export type Body =
  | { kind: "none" }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "json"; value: unknown }
  | { kind: "envelope"; valid: boolean; m: Mutation }
  | { kind: "grant"; m: Mutation | null }
  | { kind: "csr"; pem: boolean; m: Mutation | null }
  | { kind: "big"; size: number };

export type Framing =
  "length" | "chunked" | "length-short" | "length-long" | "chunked-truncated" | "chunked-bad" | "no-length";

export interface RequestSpec {
  admin: boolean;
  method: string;
  path: string[];
  query: [string, string][];
  headers: [string, string][];
  body: Body;
  framing: Framing;
  /** Bytes after the request (framing target): a second request, or junk. */
  trailer: Uint8Array;
}

const hex = (n: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: n, maxLength: n });
/** A path segment: "@own" and "@other" are resolved to real record ids when the bytes are made. */
const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("@own", "@own", "@other", USER, ADMIN, "fuzz-rsa", "nobody") },
  {
    weight: 3,
    arbitrary: fc.oneof(
      hex(32),
      hex(31),
      hex(33),
      hex(32).map((s) => s.toUpperCase()),
      hex(16),
      hex(64),
    ),
  },
  fc.constantFrom(
    "",
    ".",
    "..",
    "%2e%2e",
    "%2E",
    "%2F",
    "%00",
    "%zz",
    "%",
    "%c0%af",
    "%ff",
    "..%2f..%2fetc%2fpasswd",
    "~",
    "a;b",
    "*",
    "%20",
    "+",
    "ä",
    "%F0%9F%98%80",
  ),
  fc.string({ maxLength: 20 }).map((s) => encodeURIComponent(s)),
  fc.integer({ min: 300, max: 9000 }).map((n) => "a".repeat(n)),
);

const ROUTES: string[][] = [
  ["v1", "me"],
  ["v1", "records"],
  ["v1", "records", "*"],
  ["v1", "records", "*", "grants"],
  ["v1", "records", "*", "grants", "*"],
  ["v1", "certificates"],
  ["v1", "certificates", "*"],
  ["v1", "certificates", "requests", "*"],
  ["v1", "directory", "*"],
  ["v1", "crl"],
  ["metrics"],
  ["admin", ""],
  ["admin", "*"],
  ["admin", "*", "*"],
  [""],
  ["v1"],
  ["v2", "me"],
  ["V1", "ME"],
  ["v1", "records", ""],
];

const path: fc.Arbitrary<string[]> = fc
  .tuple(
    fc.constantFrom(...ROUTES),
    fc.array(segment, { minLength: 3, maxLength: 3 }),
    fc.array(segment, { maxLength: 2 }),
  )
  .map(([route, fill, extra]) => {
    let k = 0;
    return [...route.map((s) => (s === "*" ? (fill[k++] ?? "") : s)), ...extra];
  });

const qvalue = fc.oneof(
  fc.constantFrom(
    "1",
    "0",
    "-1",
    "1000",
    "1001",
    "100",
    "1e3",
    "0x10",
    "01",
    " 1",
    "1.5",
    "",
    "99999999999999999999",
    "NaN",
    "%00",
    "%zz",
  ),
  fc.base64String({ maxLength: 140 }).map((s) => s.replace(/[+/=]/g, "_")),
  fc
    .tuple(fc.integer({ min: 0, max: 2 ** 48 }), hex(32))
    .map(([t, id]) => Buffer.from(`${t}.${id}`).toString("base64url")),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
);
const query = fc.array(fc.tuple(fc.constantFrom("limit", "cursor", "limit", "cursor", "x", "limit[]", ""), qvalue), {
  maxLength: 3,
});

const CONTENT_TYPES = [
  "application/pkcs7-mime",
  "application/pkcs7-mime; smime-type=enveloped-data",
  "APPLICATION/PKCS7-MIME",
  " application/pkcs7-mime ;",
  "application/pkcs7-mime,text/plain",
  "application/json",
  "text/plain",
  "application/octet-stream",
  "",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded",
  "*/*",
  ";",
  "application/pkcs10",
];
const visible = fc
  .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 })
  .map((s) => s.trim());
const header: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(fc.constant("Content-Type"), fc.oneof(fc.constantFrom(...CONTENT_TYPES), visible)),
  fc.tuple(
    fc.constant("If-Match"),
    fc.oneof(
      fc.constantFrom(
        '"1"',
        '"2"',
        '"0"',
        "*",
        'W/"1"',
        '"999999999999999"',
        '"1234567890123456"',
        '"-1"',
        '""',
        "1",
        '"1", "2"',
      ),
      visible,
    ),
  ),
  fc.tuple(fc.constant("If-None-Match"), fc.oneof(fc.constantFrom("*", '"1"', "* ", "W/*"), visible)),
  fc.tuple(fc.constant("Expect"), fc.constant("100-continue")),
  fc.tuple(
    fc.constantFrom(
      "Accept",
      "Accept-Encoding",
      "Range",
      "Connection",
      "X-Forwarded-For",
      "Authorization",
      "Cookie",
      "Origin",
      "X-Request-Id",
    ),
    fc.oneof(
      fc.constantFrom(
        "100-continue",
        "close",
        "keep-alive",
        "gzip, br",
        "bytes=0-1",
        "application/json",
        "127.0.0.1, ::1",
      ),
      visible,
    ),
  ),
);

const jsonBody = fc.oneof(
  fc.jsonValue(),
  fc.record({ id: fc.oneof(hex(32), fc.jsonValue()), grantee: fc.jsonValue() }),
);
const body = (framing: boolean): fc.Arbitrary<Body> =>
  fc.oneof(
    fc.constant({ kind: "none" as const }),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: "bytes" as const, bytes })),
    jsonBody.map((value) => ({ kind: "json" as const, value })),
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("envelope" as const), valid: fc.boolean(), m: mutation() }) },
    fc.record({ kind: fc.constant("grant" as const), m: fc.option(mutation(), { nil: null }) }),
    fc.record({ kind: fc.constant("csr" as const), pem: fc.boolean(), m: fc.option(mutation(), { nil: null }) }),
    fc.record({
      kind: fc.constant("big" as const),
      size: framing ? fc.integer({ min: 60_000, max: 200_000 }) : fc.integer({ min: 60_000, max: 70_000 }),
    }),
  );

const METHODS = ["GET", "GET", "POST", "POST", "PUT", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
const FRAMING_METHODS = [...METHODS, "TRACE", "CONNECT", "PROPFIND", "get", "G\u00c9T", "FOO", ""];

export function requestSpec(framingTarget: boolean): fc.Arbitrary<RequestSpec> {
  return fc
    .record({
      admin: fc.boolean(),
      method: fc.constantFrom(...(framingTarget ? FRAMING_METHODS : METHODS)),
      path: path,
      query,
      headers: fc.array(
        framingTarget
          ? fc.oneof(
              header,
              fc.tuple(
                fc.constantFrom(
                  "Content-Type",
                  "X-Junk",
                  "Host",
                  "Transfer-Encoding",
                  "Content-Length",
                  "If-Match",
                  "Expect",
                ),
                fc.string({ maxLength: 12 }),
              ),
            )
          : header,
        { maxLength: 4 },
      ),
      body: body(framingTarget),
      framing: framingTarget
        ? fc.constantFrom<Framing>(
            "length-short",
            "length-long",
            "chunked-truncated",
            "chunked-bad",
            "no-length",
            "length",
            "chunked",
          )
        : fc.constantFrom<Framing>("length", "length", "chunked"),
      trailer: framingTarget
        ? fc.oneof(
            fc.constant(new Uint8Array(0)),
            fc.uint8Array({ maxLength: 40 }),
            fc.constant(Buffer.from("GET /v1/me HTTP/1.1\r\nHost: localhost\r\n\r\n")),
          )
        : fc.constant(new Uint8Array(0)),
    })
    .map((s) => (!framingTarget && s.body.kind === "big" ? { ...s, framing: "length" as const } : s));
  // (An oversized *chunked* body belongs to http-framing: at the time of writing it is answered 500, see the report.)
}

async function recordIdOf(world: World, owner: string): Promise<string> {
  const row = (await world.ca.db("records").where({ owner }).orderBy("created_at", "desc").first("id")) as
    { id: string } | undefined;
  return row?.id ?? "0".repeat(32);
}

function bodyBytes(world: World, b: Body, ownId: string): Uint8Array {
  const s = world.samples;
  switch (b.kind) {
    case "none":
      return new Uint8Array(0);
    case "bytes":
      return b.bytes;
    case "json":
      return Buffer.from(JSON.stringify(b.value) ?? "null");
    case "envelope":
      return b.valid ? (s.envelopes[b.m.sample % s.envelopes.length] as Uint8Array) : applyMutation(s.envelopes, b.m);
    case "grant":
      return b.m ? applyMutation(s.grants, b.m) : (s.grants[0] as Uint8Array);
    case "csr": {
      const der = b.m ? applyMutation(s.csrDer, b.m) : (s.csrDer[0] as Uint8Array);
      return b.pem ? Buffer.from(pem(der, "CERTIFICATE REQUEST")) : der;
    }
    case "big":
      return Buffer.concat([Buffer.from(ownId), randomBytes(b.size)]);
  }
}

/** The case bytes: [admin?1:0, mode] + the request. Mode 0: an answer is due; 1: the client hangs up; 2: either. */
export async function materializeRequest(world: World, spec: RequestSpec): Promise<Uint8Array> {
  const owner = spec.admin ? ADMIN : USER;
  const own = await recordIdOf(world, owner);
  const other = await recordIdOf(world, spec.admin ? USER : ADMIN);
  const p = spec.path.map((s) => (s === "@own" ? own : s === "@other" ? other : s)).join("/");
  const q = spec.query.length ? "?" + spec.query.map(([k, v]) => `${k}=${v}`).join("&") : "";
  const payload = bodyBytes(world, spec.body, own);
  const headers = [["Host", "localhost"], ...spec.headers];
  let framed: Uint8Array = payload;
  let mode = 0;
  switch (spec.framing) {
    case "length":
      headers.push(["Content-Length", String(payload.length)]);
      break;
    case "length-short":
      headers.push(["Content-Length", String(Math.floor(payload.length / 2))]);
      mode = 2;
      break;
    case "length-long":
      headers.push(["Content-Length", String(payload.length + 1 + (payload.length % 7))]);
      mode = 1;
      break;
    case "no-length":
      mode = 2;
      break;
    case "chunked":
    case "chunked-truncated":
    case "chunked-bad": {
      headers.push(["Transfer-Encoding", "chunked"]);
      const half = Math.ceil(payload.length / 2);
      const chunks = [payload.subarray(0, half), payload.subarray(half)].filter((c) => c.length > 0);
      const enc = chunks.map((c) =>
        Buffer.concat([
          Buffer.from(`${spec.framing === "chunked-bad" ? "zz" : c.length.toString(16)}\r\n`),
          c,
          Buffer.from("\r\n"),
        ]),
      );
      framed = Buffer.concat([...enc, Buffer.from(spec.framing === "chunked-truncated" ? "" : "0\r\n\r\n")]);
      mode = spec.framing === "chunked" ? 0 : spec.framing === "chunked-truncated" ? 1 : 2;
    }
  }
  if (
    spec.trailer.length > 0 ||
    spec.method !== spec.method.toUpperCase() ||
    !/^[A-Z]+$/.test(spec.method) ||
    spec.method === "CONNECT"
  )
    mode = mode === 1 ? 1 : 2;
  const head = `${spec.method} /${p}${q} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n`;
  return Buffer.concat([Uint8Array.of(spec.admin ? 1 : 0, mode), Buffer.from(head, "latin1"), framed, spec.trailer]);
}
