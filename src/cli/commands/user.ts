/** The user's commands over the SDK: keygen, put, get, ls, rm. Keys are made and records sealed on this machine. */
import { mkdirSync, readFileSync } from "node:fs";
import { parseKeyType } from "../../keys/key-types.js";
import { writeFileAtomic } from "../../files/secret-file.js";
import {
  FileKeyStore,
  clientFromProfile,
  createKeyAndCsr,
  normalizeFingerprint,
  profilePaths,
} from "../../client-sdk/index.js";
import type { CertvaultClient } from "../../client-sdk/index.js";
import { UsageError } from "../../errors/index.js";
import { resolveCommon } from "../../config/index.js";
import { resolveClient } from "../../config/commands.js";
import { parse, printJson, requireString } from "../command-io.js";
import type { Io } from "../command-io.js";
import { safeForTerminal as t, safeLines } from "../terminal.js";
import { obtainPassphrase } from "../passphrase.js";
export { USER_HELP } from "./user-help.js";

const PROFILE_OPTS = { profile: { type: "string" }, server: { type: "string" } } as const;

async function withClient<T>(
  argv: string[],
  io: Io,
  extra: Record<string, { type: "string" | "boolean"; short?: string }>,
  positionals: number,
  fn: (c: CertvaultClient, pos: string[], flags: Record<string, unknown>) => Promise<T>,
): Promise<T> {
  const { flags, positionals: pos } = parse(argv, { ...PROFILE_OPTS, ...extra }, { positionals });
  const cfg = resolveClient(flags, io.env);
  const dir = requireString(flags, "profile");
  const client = await clientFromProfile(dir, {
    ...(cfg.server ? { server: cfg.server } : {}),
    passphrase: () => obtainPassphrase(cfg, io, { prompt: "Key passphrase: " }),
  });
  try {
    return await fn(client, pos, { ...flags, json: cfg.json });
  } finally {
    client.close();
  }
}

function readInput(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path === "-" ? 0 : path));
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
}

export async function keygenCommand(argv: string[], io: Io): Promise<number> {
  const { flags } = parse(
    argv,
    { name: { type: "string" }, out: { type: "string" }, "key-type": { type: "string" } },
    { positionals: 0 },
  );
  const cfg = resolveCommon(flags, io.env);
  const name = requireString(flags, "name");
  const paths = profilePaths(requireString(flags, "out"));
  const keyType = parseKeyType(flags["key-type"] as string | undefined);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const passphrase = await obtainPassphrase(cfg, io, { prompt: "New key passphrase: ", confirm: true });
  const { csrPem } = await createKeyAndCsr({ name, keyType, store: new FileKeyStore(paths.key), passphrase });
  writeFileAtomic(paths.csr, csrPem, { mode: 0o644, overwrite: true });
  if (cfg.json) printJson(io, { key: paths.key, csr: paths.csr, keyType });
  else io.out(`wrote ${paths.key} (encrypted) and ${paths.csr}; send the CSR to your certvault admin\n`);
  return 0;
}

export async function putCommand(argv: string[], io: Io): Promise<number> {
  return withClient(argv, io, {}, 1, async (client, pos, flags) => {
    if (pos[0] === undefined) throw new UsageError("usage: certvault put --profile DIR FILE|-");
    const id = await client.put(readInput(pos[0]));
    if (flags.json) printJson(io, { id });
    else io.out(`${t(id)}\n`);
    return 0;
  });
}

const GET_OPTS = {
  output: { type: "string", short: "o" },
  owner: { type: "string" },
  "refuse-server-sealed": { type: "boolean" },
  "accept-unsigned": { type: "boolean" },
} as const;

/**
 * Content only once the record's signature, signer and binding verify (client-sdk/record-trust.ts). The kind goes to
 * stderr when it is not the owner's own signature, so a pipeline's stdout stays the plaintext alone.
 */
export async function getCommand(argv: string[], io: Io): Promise<number> {
  return withClient(argv, io, GET_OPTS, 1, async (client, pos, flags) => {
    if (pos[0] === undefined)
      throw new UsageError(
        "usage: certvault get --profile DIR ID [-o FILE] [--owner IDENTITY] [--refuse-server-sealed] [--accept-unsigned]",
      );
    const owner = flags.owner as string | undefined;
    const record = await client.openRecord(pos[0], {
      ...(owner ? { owner } : {}),
      ...(flags["refuse-server-sealed"] === true ? { acceptServerSealed: false } : {}),
      ...(flags["accept-unsigned"] === true ? { acceptUnsigned: true } : {}),
    });
    if (record.kind === "server-signed")
      io.err(
        `get: ${t(pos[0])} was sealed by the server from a plaintext upload (signed by ${t(record.signer ?? "")})\n`,
      );
    if (record.kind === "unsigned") io.err(`get: ${t(pos[0])} is NOT signed: nothing shows who wrote it\n`);
    const out = flags.output as string | undefined;
    if (out) writeFileAtomic(out, record.content, { mode: 0o600, overwrite: true });
    else io.outBytes(record.content);
    return 0;
  });
}

/**
 * `certvault recovery pin --profile DIR [--fingerprint SHA256]`: pins the recovery certificate the server names
 * (after the SDK verified it) in DIR/trust.json; with --fingerprint (from the administrator, out of band) only if it
 * is that one. Until then the SDK refuses to seal once recovery is set up; afterwards it refuses any other.
 */
export async function recoveryPinCommand(argv: string[], io: Io): Promise<number> {
  return withClient(argv, io, { fingerprint: { type: "string" } }, 0, async (client, _pos, flags) => {
    const given = flags.fingerprint as string | undefined;
    if (given === undefined)
      throw new UsageError(
        "usage: certvault recovery pin --profile DIR --fingerprint SHA256 (the fingerprint your administrator published; never taken from the server)",
      );
    const pinned = await client.pinRecovery(normalizeFingerprint(given));
    if (flags.json)
      printJson(io, {
        fingerprint: pinned.fingerprint,
        serial: pinned.serial,
        notAfter: pinned.notAfter.toISOString(),
      });
    else
      io.out(
        `pinned recovery certificate ${t(pinned.serial)}, SHA-256 ${pinned.fingerprint}, valid until ${pinned.notAfter.toISOString()}\n`,
      );
    return 0;
  });
}

export async function lsCommand(argv: string[], io: Io): Promise<number> {
  return withClient(argv, io, {}, 0, async (client, _pos, flags) => {
    const all = [];
    for await (const r of client.all()) all.push(r);
    if (flags.json) printJson(io, all);
    else for (const r of all) io.out(`${t(r.id)}  ${t(String(r.size).padStart(10))}  ${t(String(r.createdAt))}\n`);
    return 0;
  });
}

export async function rmCommand(argv: string[], io: Io): Promise<number> {
  return withClient(argv, io, {}, 1, async (client, pos) => {
    if (pos[0] === undefined) throw new UsageError("usage: certvault rm --profile DIR ID");
    await client.delete(pos[0]);
    return 0;
  });
}

export async function rotateCommand(argv: string[], io: Io): Promise<number> {
  return withClient(
    argv,
    io,
    { "new-cert": { type: "string" }, "drop-old": { type: "boolean" }, "revoke-old": { type: "boolean" } },
    0,
    async (client, _pos, flags) => {
      const file = flags["new-cert"] as string | undefined;
      if (!file)
        throw new UsageError("usage: certvault rotate --profile DIR --new-cert FILE [--drop-old] [--revoke-old]");
      let pem: string;
      try {
        pem = readFileSync(file, "utf8");
      } catch {
        throw new UsageError(`cannot read the new certificate ${file}`);
      }
      const result = await client.rotateTo(pem, {
        dropOld: flags["drop-old"] === true,
        onProgress: (p) => {
          const n = p.rewrapped + p.skipped + p.notOpenable;
          if (n % 100 === 0) io.err(`rotate: ${n} records (${p.rewrapped} re-wrapped, ${p.skipped} already done)\n`);
        },
      });
      // Revoke the old certificate only when nothing is left that only it could re-wrap.
      const revoke = flags["revoke-old"] === true && result.notOpenable === 0;
      if (revoke) await client.revokeSelf();
      if (flags["revoke-old"] === true && !revoke)
        io.err("rotate: the old certificate is NOT revoked: some records could not be re-wrapped with it\n");
      if (flags.json) printJson(io, { ...result, oldRevoked: revoke });
      else
        io.out(
          `rotated${revoke ? " (old certificate revoked)" : ""}: ${result.rewrapped} re-wrapped, ${result.skipped} already done, ${result.notOpenable} not openable with this key, ${result.retried} retried after a concurrent change\n`,
        );
      return 0;
    },
  );
}

/** `certvault renew`: send a CSR for a new key (made with keygen) and write the certificate once issued. */
export async function renewCommand(argv: string[], io: Io): Promise<number> {
  return withClient(
    argv,
    io,
    { csr: { type: "string" }, request: { type: "string" }, out: { type: "string" } },
    0,
    async (client, _pos, flags) => {
      const csrFile = flags.csr as string | undefined;
      const requestId = flags.request as string | undefined;
      if (csrFile === undefined)
        throw new UsageError("usage: certvault renew --profile DIR --csr FILE [--request ID] [--out FILE]");
      let csr: string;
      try {
        csr = readFileSync(csrFile, "utf8");
      } catch {
        throw new UsageError(`cannot read the CSR ${csrFile}`);
      }
      // The CSR is needed also when polling: the certificate returned must be for its key.
      const view =
        requestId === undefined
          ? await client.requestCertificate(csr)
          : await client.certificateRequest(requestId, csr);
      const out = flags.out as string | undefined;
      if (view.certificate && out) writeFileAtomic(out, view.certificate, { mode: 0o644, overwrite: true });
      if (flags.json) printJson(io, view);
      else if (view.status === "issued")
        io.out(out ? `issued ${t(String(view.serial))}; wrote ${out}\n` : safeLines(view.certificate ?? ""));
      else
        io.out(
          `${t(view.status)} ${t(view.id)}${view.status === "pending" ? "  (an admin approves it with: certvault requests approve ID)" : ""}\n`,
        );
      return view.status === "rejected" || view.status === "failed" ? 1 : 0;
    },
  );
}

async function shareOrUnshare(argv: string[], io: Io, share: boolean): Promise<number> {
  const verb = share ? "share" : "unshare";
  return withClient(argv, io, { with: { type: "string" } }, 1, async (client, pos, flags) => {
    const identity = flags.with as string | undefined;
    if (pos[0] === undefined || !identity)
      throw new UsageError(`usage: certvault ${verb} --profile DIR ID --with IDENTITY`);
    if (share) await client.share(pos[0], identity);
    else await client.unshare(pos[0], identity);
    if (flags.json) printJson(io, { id: pos[0], identity, shared: share });
    else
      io.out(
        share
          ? `shared ${t(pos[0])} with ${t(identity)}\n`
          : `unshared ${t(pos[0])} from ${t(identity)} (a copy they already downloaded stays theirs)\n`,
      );
    return 0;
  });
}

export const shareCommand = (argv: string[], io: Io): Promise<number> => shareOrUnshare(argv, io, true);
export const unshareCommand = (argv: string[], io: Io): Promise<number> => shareOrUnshare(argv, io, false);
