/** Reading what a request says beyond its body: media type, query parameters, path identities, preconditions. */
import { InvalidInputError, InvalidQueryError } from "../errors/index.js";
import { identityProblem } from "../ca/profiles.js";
import type { AppContext, RouteContext } from "./state.js";

export function mediaType(ctx: AppContext): string {
  return (ctx.get("content-type").split(";")[0] ?? "").trim().toLowerCase();
}

export function query(ctx: AppContext, name: string): string | undefined {
  const v = ctx.query[name];
  return Array.isArray(v) ? v[0] : v;
}

/** An identity named in the path: decoded, and held to the same rule as a certificate's CN. */
export function identityParam(ctx: RouteContext): string {
  const raw = ctx.params.identity ?? "";
  const problem = identityProblem(raw);
  if (problem) throw new InvalidInputError(`identity: ${problem}`);
  return raw;
}

/** If-Match: the ETag a GET returned ("3"); absent means "replace whatever is there now". */
export function ifMatch(ctx: AppContext): number | undefined {
  const raw = ctx.get("if-match");
  if (raw === "") return undefined;
  const m = /^"(\d{1,15})"$/.exec(raw.trim());
  if (!m) throw new InvalidQueryError('If-Match must be the ETag a GET returned, e.g. "3"');
  return Number(m[1]);
}

/** If-None-Match: * asks for "create, never replace"; any other value is not something a record PUT understands. */
export function createOnly(ctx: AppContext): boolean {
  const raw = ctx.get("if-none-match").trim();
  if (raw === "") return false;
  if (raw !== "*") throw new InvalidQueryError('If-None-Match must be "*" (create only) or absent');
  if (ctx.get("if-match") !== "") throw new InvalidQueryError("If-Match and If-None-Match exclude each other");
  return true;
}
