/**
 * Records: plaintext uploads are sealed to every active certificate of the caller's identity and the plaintext is
 * dropped; client-sealed uploads are checked (they parse, within limits, and one recipient is a certificate of the
 * caller) and stored as sent. Ownership is part of every query (store/records.ts).
 */
import {
  ConflictError,
  InvalidGrantError,
  RecoveryRecipientMissingError,
  InvalidIdError,
  InvalidInputError,
  InvalidQueryError,
  NotARecipientError,
  NotFoundError,
  PreconditionFailedError,
  ServiceUnavailableError,
} from "../../errors/index.js";
import { isRecipient, readGrant, recipientsOf, sealSignedRecord } from "../../envelope/index.js";
import type { RecordSigner } from "../../envelope/index.js";
import type { RecordMeta, RecordRepository } from "../../store/records.js";
import type { CertificateDirectory } from "../ports.js";
import type { Caller } from "../middleware/auth.js";
import { releaseOwnPages } from "../../policy/memory.js";
import { isRecordId, newRecordId } from "../../policy/record-id.js";

export const CMS_MEDIA_TYPE = "application/pkcs7-mime";
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export function checkId(id: string): string {
  if (!isRecordId(id)) throw new InvalidIdError();
  return id;
}

export interface Page {
  records: { id: string; size: number; createdAt: string; updatedAt: string }[];
  next: string | null;
}

function encodeCursor(m: RecordMeta): string {
  return Buffer.from(`${m.createdAt.getTime()}.${m.id}`, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const text = /^[A-Za-z0-9_-]{1,96}$/.test(cursor) ? Buffer.from(cursor, "base64url").toString("utf8") : "";
  const m = /^(\d{1,15})\.([0-9a-f]{32})$/.exec(text);
  if (!m || m[1] === undefined || m[2] === undefined) throw new InvalidQueryError("the cursor is malformed");
  return { createdAt: Number(m[1]), id: m[2] };
}

export function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_PAGE;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_PAGE)
    throw new InvalidQueryError(`limit must be a whole number from 1 to ${MAX_PAGE}`);
  return n;
}

/**
 * The server cannot judge whom the owner trusts (the SDK does that), but it stores only statements that parse, are
 * signed by the key of the certificate they carry, and name this owner, record and grantee.
 */
function checkGrantStatement(statement: Uint8Array, owner: string, id: string, grantee: string): void {
  let g: ReturnType<typeof readGrant>;
  try {
    g = readGrant(statement);
  } catch {
    throw new InvalidGrantError("the body must be the owner's signed grant statement (DER), as the SDK makes it");
  }
  if (g.owner !== owner || g.id !== id || g.grantee !== grantee)
    throw new InvalidGrantError("the grant statement names another owner, record or grantee");
}

export class RecordService {
  constructor(
    private readonly repo: RecordRepository,
    private readonly registry: CertificateDirectory,
    private readonly now: () => Date,
    /** The recovery certificate, once recovery is set up: every record is sealed to it as well. */
    readonly recovery: () => Promise<string | undefined>,
    /**
     * The server's own key and certificate: a plaintext upload is signed with it and bound to its owner and id before
     * it is sealed (docs/envelope.md "Signed records"), so a database writer, who lacks the key, cannot forge one, and
     * the SDK tells it from a record its owner signed. ECDSA P-256 signing costs ~25 us next to ~210 us of sealing.
     */
    private readonly signer: RecordSigner,
  ) {}

  /** Turns an upload into the envelope to store under `id`; `alsoFor` are more certificates a plaintext upload is sealed to. */
  private async envelopeFor(
    caller: Caller,
    id: string,
    body: Uint8Array,
    contentType: string,
    alsoFor: readonly string[] = [],
  ): Promise<Uint8Array> {
    const certs = await this.registry.activeCertificates(caller.identity);
    const recovery = await this.recovery();
    if (contentType === CMS_MEDIA_TYPE) {
      // Parsed once (the uploader chooses up to 64 recipients, 1 MiB of them), then matched against each certificate.
      const ids = recipientsOf(body);
      // On a miss, ask the registry itself: the upload may be sealed to a certificate issued since the last poll.
      const addressed = (list: { pem: string }[]): boolean => list.some((c) => isRecipient(ids, c.pem));
      if (!addressed(certs) && !addressed(await this.registry.activeCertificatesNow(caller.identity)))
        throw new NotARecipientError();
      if (recovery && !isRecipient(ids, recovery)) throw new RecoveryRecipientMissingError();
      return body;
    }
    if (certs.length === 0)
      throw new ServiceUnavailableError("the caller's identity has no active certificate to seal to");
    // Signed and sealed in one pass: no SignedData copy of the body in between (10 MiB less per 10 MiB upload).
    return sealSignedRecord(
      body,
      this.signer,
      { owner: caller.identity, id },
      [...certs.map((c) => c.pem), ...alsoFor, ...(recovery ? [recovery] : [])],
      { now: this.now() },
    );
  }

  /**
   * create, createAt and replace consume `body`: once the record is stored (or refused), a large body read by
   * readBody and the envelope sealed here give their pages back to the OS (policy/memory.ts releaseOwnPages), not
   * at the next GC.
   */
  async create(caller: Caller, body: Uint8Array, contentType: string): Promise<string> {
    try {
      const id = newRecordId();
      const envelope = await this.envelopeFor(caller, id, body, contentType);
      try {
        await this.repo.insert({ id, owner: caller.identity, envelope, now: this.now() });
      } finally {
        releaseOwnPages(envelope);
      }
      return id;
    } finally {
      releaseOwnPages(body);
    }
  }

  /**
   * Creates a record under an id the client chose (PUT with If-None-Match: *), as the SDK does so that its signature
   * can name the id before it seals. An id anybody holds already is refused (412), whoever holds it.
   */
  async createAt(caller: Caller, id: string, body: Uint8Array, contentType: string): Promise<void> {
    try {
      checkId(id);
      const envelope = await this.envelopeFor(caller, id, body, contentType);
      let stored: boolean;
      try {
        stored = await this.repo.insertNew({ id, owner: caller.identity, envelope, now: this.now() });
      } finally {
        releaseOwnPages(envelope);
      }
      if (!stored) throw new PreconditionFailedError("a record with this id exists already: choose another id");
    } finally {
      releaseOwnPages(body);
    }
  }

  /** Replaces a record; with `ifVersion`, only if nobody wrote it since that version. Returns the new version. */
  async replace(
    caller: Caller,
    id: string,
    body: Uint8Array,
    contentType: string,
    ifVersion?: number,
  ): Promise<number> {
    try {
      return await this.replaceWith(caller, id, body, contentType, ifVersion);
    } finally {
      releaseOwnPages(body);
    }
  }

  private async replaceWith(
    caller: Caller,
    id: string,
    body: Uint8Array,
    contentType: string,
    ifVersion?: number,
  ): Promise<number> {
    checkId(id);
    // Existence first, so that a foreign id costs no sealing and answers exactly like a missing one.
    const current = await this.repo.version(caller.identity, id);
    if (current === null) throw new NotFoundError();
    if (ifVersion !== undefined && ifVersion !== current) throw new PreconditionFailedError();
    // A shared record stays shared: a plaintext replacement is sealed to its grantees' active certificates too.
    const grantees = await this.repo.grantees(caller.identity, id);
    const theirs = (await Promise.all(grantees.map((g) => this.registry.activeCertificates(g))))
      .flat()
      .map((c) => c.pem);
    const envelope = await this.envelopeFor(caller, id, body, contentType, theirs);
    const expectedVersion = ifVersion ?? current;
    let replaced: boolean;
    try {
      replaced = await this.repo.replace({ id, owner: caller.identity, envelope, now: this.now(), expectedVersion });
    } finally {
      releaseOwnPages(envelope);
    }
    if (!replaced) {
      if ((await this.repo.version(caller.identity, id)) === null) throw new NotFoundError();
      // Without If-Match the caller asked for "last write wins" of its own request, yet a concurrent write slipped
      // in between: report it rather than overwrite something the caller never saw.
      throw new PreconditionFailedError();
    }
    return expectedVersion + 1;
  }

  /** The owner's record, or one shared with the caller; anything else is 404, like a missing id. */
  async get(caller: Caller, id: string): Promise<{ envelope: Uint8Array; updatedAt: Date; version: number }> {
    const found = await this.repo.getReadable(caller.identity, checkId(id));
    if (found === null) throw new NotFoundError();
    return found;
  }

  /**
   * Shares a record (owner only) once its stored envelope is sealed to the grantee too: the grant only opens the
   * door; the SDK has already wrapped the content key for the grantee's certificates, which it checked itself.
   */
  async grant(caller: Caller, id: string, grantee: string, statement: Uint8Array, ifVersion?: number): Promise<void> {
    const { version, envelope } = await this.owned(caller, id, ifVersion);
    if (grantee === caller.identity) throw new InvalidInputError("a record is always readable by its owner");
    checkGrantStatement(statement, caller.identity, id, grantee);
    const certs = await this.registry.activeCertificatesNow(grantee);
    if (certs.length === 0) throw new NotFoundError(`no active certificate for "${grantee}"`);
    const ids = recipientsOf(envelope);
    if (!certs.some((c) => isRecipient(ids, c.pem))) {
      throw new ConflictError(
        `seal the record to ${grantee}'s certificates first (PUT the re-wrapped envelope), then grant`,
      );
    }
    if (
      !(await this.repo.setGrant({
        owner: caller.identity,
        id,
        grantee,
        version,
        grant: true,
        now: this.now(),
        statement,
      }))
    )
      throw new PreconditionFailedError();
  }

  /** Unshares (owner only) once the stored envelope no longer names any of the grantee's certificates. */
  async revokeGrant(caller: Caller, id: string, grantee: string, ifVersion?: number): Promise<void> {
    const { version, envelope } = await this.owned(caller, id, ifVersion);
    const certs = await this.registry.activeCertificatesNow(grantee);
    const ids = recipientsOf(envelope);
    if (certs.some((c) => isRecipient(ids, c.pem))) {
      throw new ConflictError(
        `remove ${grantee}'s certificates from the envelope first (PUT the re-wrapped envelope), then revoke the grant`,
      );
    }
    if (!(await this.repo.setGrant({ owner: caller.identity, id, grantee, version, grant: false, now: this.now() })))
      throw new PreconditionFailedError();
  }

  async grantees(caller: Caller, id: string): Promise<string[]> {
    await this.owned(caller, id);
    return this.repo.grantees(caller.identity, id);
  }

  /** The grants with the owner's signed statements, for the SDK to verify before it seals to anyone. */
  async grants(caller: Caller, id: string): Promise<{ grantee: string; statement: Uint8Array | null }[]> {
    await this.owned(caller, id);
    return this.repo.grants(caller.identity, id);
  }

  private async owned(
    caller: Caller,
    id: string,
    ifVersion?: number,
  ): Promise<{ envelope: Uint8Array; version: number }> {
    const found = await this.repo.getEnvelope(caller.identity, checkId(id));
    if (found === null) throw new NotFoundError();
    if (ifVersion !== undefined && ifVersion !== found.version) throw new PreconditionFailedError();
    return found;
  }

  async delete(caller: Caller, id: string): Promise<void> {
    if (!(await this.repo.delete(caller.identity, checkId(id)))) throw new NotFoundError();
  }

  async list(caller: Caller, limit: number, cursor: string | undefined): Promise<Page> {
    const after = cursor === undefined || cursor === "" ? null : decodeCursor(cursor);
    // One extra row tells whether there is a next page without a second query.
    const rows = await this.repo.page(caller.identity, limit + 1, after);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      records: page.map((m) => ({
        id: m.id,
        size: m.size,
        createdAt: m.createdAt.toISOString(),
        updatedAt: m.updatedAt.toISOString(),
      })),
      next: rows.length > limit && last ? encodeCursor(last) : null,
    };
  }
}
