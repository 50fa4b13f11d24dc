/** curl as an independent mTLS client: status, body bytes and curl's own exit code. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runProcess } from "./cli.js";

export interface CurlIdentity {
  certPath: string;
  keyPath: string;
  /** For an encrypted key: the file holding its passphrase. */
  passFile?: string;
}

export interface CurlResult {
  /** curl's exit code: 0 when an HTTP answer arrived (whatever its status), non-zero when TLS or the connection failed. */
  exit: number | null;
  status: number;
  body: Buffer;
  stderr: string;
}

export async function curl(
  url: string,
  opts: {
    cacert: string;
    id?: CurlIdentity;
    method?: string;
    data?: Uint8Array | string;
    dataFile?: string;
    headers?: string[];
  },
): Promise<CurlResult> {
  const dir = mkdtempSync(join(tmpdir(), "certvault-curl-"));
  try {
    const out = join(dir, "body");
    const args = ["-sS", "--cacert", opts.cacert, "-o", out, "-w", "%{http_code}", "--max-time", "30"];
    if (opts.id) args.push("--cert", opts.id.certPath, "--key", opts.id.keyPath);
    if (opts.id?.passFile) args.push("--pass", readFileSync(opts.id.passFile, "utf8").trim());
    if (opts.method) args.push("-X", opts.method);
    for (const h of opts.headers ?? []) args.push("-H", h);
    if (opts.data !== undefined) args.push("--data-binary", "@-");
    if (opts.dataFile !== undefined) args.push("--data-binary", `@${opts.dataFile}`);
    args.push(url);
    const r = await runProcess("curl", args, {
      ...(opts.data !== undefined ? { input: opts.data } : {}),
      timeoutMs: 40_000,
    });
    let body = Buffer.alloc(0);
    try {
      body = readFileSync(out);
    } catch {
      /* no body written */
    }
    return { exit: r.code, status: Number(r.stdout.trim() || "0"), body, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function json(r: CurlResult): { error?: { code: string; message: string } } & Record<string, unknown> {
  return JSON.parse(r.body.toString("utf8")) as { error?: { code: string; message: string } } & Record<string, unknown>;
}
