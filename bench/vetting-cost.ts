/**
 * What vetting a registry certificate costs (policy/registry-certificate.ts): a first check (parse twice, verify the
 * intermediate's signature), a repeat with the parse cached per fingerprint, and a cached row object, against one
 * full mTLS handshake measured in the same run. Run: node --import tsx bench/vetting-cost.ts
 */
import { connect } from "node:tls";
import { createServer } from "node:tls";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { createTestCA } from "../src/testing/index.js";
import {
  anchorsFromPem,
  certificateFacts,
  pemToDer,
  vetRegistryCertificate,
} from "../src/policy/registry-certificate.js";
import { RegistryVetting } from "../src/server/revocation/registry-vetting.js";

function perOp(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 200); i++) fn(i);
  const t = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return ((performance.now() - t) * 1000) / n;
}

async function handshakeUs(ca: Awaited<ReturnType<typeof createTestCA>>, n: number): Promise<number> {
  const srv = await ca.issueServer(["localhost", "127.0.0.1"]);
  const client = await ca.issueClient("bench");
  const server = createServer(
    {
      key: srv.keyPem,
      cert: srv.certPem + ca.intermediatePem,
      ca: ca.rootPem + ca.intermediatePem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (s) => s.end(),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const once = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = connect(
        { port, host: "127.0.0.1", ca: ca.rootPem, key: client.keyPem, cert: client.certPem, servername: "localhost" },
        () => s.end(),
      );
      s.on("close", () => resolve())
        .on("error", reject)
        .resume();
    });
  for (let i = 0; i < 20; i++) await once();
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) await once();
  const used = process.cpuUsage(cpu);
  server.close();
  // Both ends run in this process: half of the CPU is one side's.
  return (used.user + used.system) / n / 2;
}

const ca = await createTestCA();
try {
  const alice = await ca.issueClient("alice");
  const anchors = anchorsFromPem(ca.rootPem, ca.intermediatePem);
  const row = { serial: alice.serial, identity: "alice", fingerprintSha256: "", pem: alice.certPem };
  const der = pemToDer(alice.certPem);
  if (!der) throw new Error("bad PEM");
  row.fingerprintSha256 = certificateFacts(der, anchors).fingerprint;
  if (!vetRegistryCertificate(row, anchors, new Date()).ok) throw new Error("alice's certificate should pass");
  const first = perOp(2000, () => vetRegistryCertificate(row, anchors, new Date()));
  const vetting = new RegistryVetting(anchors, () => Promise.resolve());
  const rows = Array.from({ length: 2000 }, () => ({ ...row }));
  await vetting.usable([row], new Date());
  const t0 = performance.now();
  for (const r of rows) await vetting.usable([r], new Date());
  const byFingerprint = ((performance.now() - t0) * 1000) / rows.length;
  const t1 = performance.now();
  for (let i = 0; i < 20_000; i++) await vetting.usable([row], new Date());
  const byRow = ((performance.now() - t1) * 1000) / 20_000;
  const hs = await handshakeUs(ca, 300);
  console.log(
    `first check ${first.toFixed(1)} us, cached by fingerprint ${byFingerprint.toFixed(2)} us, cached row ${byRow.toFixed(2)} us; mTLS handshake ${hs.toFixed(0)} us CPU per side`,
  );
} finally {
  await ca.cleanup();
}
