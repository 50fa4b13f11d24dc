/** One keep-alive GET through a client-certificate Agent: status and body as text (a JSON answer, a metrics page). */
import { request } from "node:https";
import type { Agent } from "node:https";

export function getText(agent: Agent, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
