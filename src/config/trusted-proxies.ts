/**
 * `--trusted-proxies CIDR,...` (env CERTVAULT_TRUSTED_PROXIES): the balancers whose PROXY protocol headers name the
 * client (server/tls/proxy-protocol.ts). Each entry is an IPv4/IPv6 address or ADDRESS/PREFIX; anything else is a usage
 * error at start, never a silently ignored entry (an ignored balancer would refuse every connection it relays).
 */
import { isIP } from "node:net";
import { UsageError } from "../errors/index.js";

export function parseTrustedProxies(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const entries = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const entry of entries) {
    const [address = "", prefix, extra] = entry.split("/");
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^(0|[1-9]\d{0,2})$/.test(prefix) && Number(prefix) <= max);
    if (family === 0 || extra !== undefined || !prefixOk) {
      throw new UsageError(
        `--trusted-proxies: "${entry}" is not an IP address or ADDRESS/PREFIX (e.g. 10.0.0.0/24, 2001:db8::/64)`,
      );
    }
  }
  return entries;
}
