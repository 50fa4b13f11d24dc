/**
 * A balancer for tests: a node:net TCP proxy that connects to the API server from a chosen local address (127.0.0.2
 * is "the balancer"; any 127/8 address is this machine on Linux), writes a PROXY protocol header naming a fake client
 * first (or whatever bytes a test gives), then pipes both ways. Also raw PROXY v1/v2 header builders.
 */
import { connect, createServer, isIPv4 } from "node:net";
import type { AddressInfo, Socket } from "node:net";
import { V2_SIGNATURE } from "../../src/server/tls/proxy-header.js";

export function proxyV1(client: string, port = 40000): Buffer {
  const family = isIPv4(client) ? "TCP4" : "TCP6";
  return Buffer.from(`PROXY ${family} ${client} ${family === "TCP4" ? "127.0.0.1" : "::1"} ${port} 8443\r\n`, "latin1");
}

function ipv6Bytes(address: string): Buffer {
  const [head = "", tail = ""] = address.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}

/** A v2 PROXY (command 1) header over TCP, IPv4 or IPv6 after the client's address; `tlv` appended to the body. */
export function proxyV2(client: string, port = 40000, tlv: Buffer = Buffer.alloc(0)): Buffer {
  const v4 = isIPv4(client);
  const src = v4 ? Buffer.from(client.split(".").map(Number)) : ipv6Bytes(client);
  const dst = v4 ? Buffer.from([127, 0, 0, 1]) : ipv6Bytes("::1");
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(port, 0);
  ports.writeUInt16BE(8443, 2);
  const body = Buffer.concat([src, dst, ports, tlv]);
  const head = Buffer.alloc(4);
  head[0] = 0x21;
  head[1] = v4 ? 0x11 : 0x21;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

export interface TestBalancer {
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1; each connection goes to 127.0.0.1:`target` from `localAddress`, `header` first. */
export async function startBalancer(
  target: number,
  header: Buffer | undefined,
  localAddress = "127.0.0.2",
): Promise<TestBalancer> {
  const open = new Set<Socket>();
  const srv = createServer((down) => {
    const up = connect({ host: "127.0.0.1", port: target, localAddress });
    if (header) up.write(header);
    down.pipe(up);
    up.pipe(down);
    for (const s of [down, up]) {
      open.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        open.delete(s);
        down.destroy();
        up.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return {
    port: (srv.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

/** Opens a raw TCP connection from `localAddress`, writes `bytes`, and resolves with what came back once it closed. */
export function rawExchange(port: number, bytes: Buffer, localAddress: string, end = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = connect({ host: "127.0.0.1", port, localAddress }, () => (end ? s.end(bytes) : s.write(bytes)));
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", (err: NodeJS.ErrnoException) => (err.code === "ECONNRESET" ? undefined : reject(err)));
    s.on("close", () => resolve(Buffer.concat(chunks)));
  });
}
