/**
 * The record endpoints' handlers (the table is routes.ts): create, list, read, replace or create-at, delete, and
 * sharing (grants). Each parses the request, calls the record service and answers; what the audit entry and the
 * anomaly rules need comes back as the RouteOutcome.
 */
import { readBody } from "../body.js";
import { CMS_MEDIA_TYPE, parseLimit } from "../services/records.js";
import type { RecordService } from "../services/records.js";
import { MAX_GRANT_BYTES } from "../../envelope/index.js";
import { OWN_PAGES_BYTES, releaseOwnPages } from "../../policy/memory.js";
import { createOnly, identityParam, ifMatch, mediaType, query } from "../request-input.js";
import type { RouteSpec } from "../route-runner.js";
import type { Caller } from "../middleware/auth.js";
import type { RouteContext } from "../state.js";

type Handle = RouteSpec["handle"];

export interface RecordHandlers {
  create: Handle;
  list: Handle;
  get: Handle;
  put: Handle;
  delete: Handle;
  grants: Handle;
  share: Handle;
  unshare: Handle;
}

export function recordHandlers(records: RecordService, maxRecordBytes: number): RecordHandlers {
  return {
    async create(ctx, c) {
      const id = await records.create(c, await readBody(ctx, maxRecordBytes), mediaType(ctx));
      ctx.status = 201;
      ctx.body = { id };
      return { recordId: id };
    },
    async list(ctx, c) {
      const cursor = query(ctx, "cursor");
      const page = await records.list(c, parseLimit(query(ctx, "limit")), cursor);
      ctx.body = page;
      return { list: { cursor: cursor !== undefined && cursor !== "", end: page.next === null } };
    },
    async get(ctx, c) {
      const { envelope, updatedAt, version } = await records.get(c, ctx.params.id ?? "");
      ctx.set("ETag", `"${version}"`);
      // The header itself: Koa's `type` setter looks the type up and asks for a charset (~1 us per GET, session 11).
      ctx.set("Content-Type", CMS_MEDIA_TYPE);
      ctx.body = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
      // A large envelope's pages go back to the OS once its answer is written (every byte handed to TLS), not at the
      // next full GC (policy/memory.ts). Small ones come from malloc and skip the listener (GET is a hot path).
      if (envelope.byteLength >= OWN_PAGES_BYTES) ctx.res.once("finish", () => releaseOwnPages(envelope));
      return { recordUpdatedAt: updatedAt };
    },
    put: (ctx, c) => put(records, maxRecordBytes, ctx, c),
    async delete(ctx, c) {
      await records.delete(c, ctx.params.id ?? "");
      ctx.status = 204;
    },
    ...sharingHandlers(records),
  };
}

/** PUT /v1/records/:id: replace under If-Match, or (If-None-Match: *) create at this id. */
async function put(records: RecordService, maxBytes: number, ctx: RouteContext, c: Caller): Promise<void> {
  const body = await readBody(ctx, maxBytes);
  const id = ctx.params.id ?? "";
  if (createOnly(ctx)) {
    // Create under an id the client chose (the SDK signs the id into the record before it seals it).
    await records.createAt(c, id, body, mediaType(ctx));
    ctx.status = 201;
    ctx.set("ETag", '"1"');
    ctx.body = { id, version: 1 };
    return;
  }
  const version = await records.replace(c, id, body, mediaType(ctx), ifMatch(ctx));
  ctx.set("ETag", `"${version}"`);
  ctx.body = { id, version };
}

/**
 * Sharing: the owner first re-wraps the envelope for the grantee's certificates (PUT /records/:id), then grants.
 * Each grant comes with the owner's signed statement (base64 DER; null for grants made before statements): the SDK
 * seals to a grantee only on a statement it verifies itself.
 */
function sharingHandlers(records: RecordService): Pick<RecordHandlers, "grants" | "share" | "unshare"> {
  return {
    async grants(ctx, c) {
      const grants = await records.grants(c, ctx.params.id ?? "");
      ctx.body = {
        id: ctx.params.id,
        grantees: grants.map((g) => g.grantee),
        grants: grants.map((g) => ({
          grantee: g.grantee,
          statement: g.statement ? Buffer.from(g.statement).toString("base64") : null,
        })),
      };
    },
    // Body: the owner's grant statement (envelope/grant.ts), DER.
    async share(ctx, c) {
      const statement = await readBody(ctx, MAX_GRANT_BYTES);
      await records.grant(c, ctx.params.id ?? "", identityParam(ctx), statement, ifMatch(ctx));
      ctx.body = { id: ctx.params.id, grantee: identityParam(ctx) };
    },
    async unshare(ctx, c) {
      await records.revokeGrant(c, ctx.params.id ?? "", identityParam(ctx), ifMatch(ctx));
      ctx.status = 204;
    },
  };
}
