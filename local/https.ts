/**
 * HTTPS from this machine to the local droplets and the services around them: a test domain's
 * name sent to a given address, as a client whose DNS resolves it there would. The one HTTP
 * client of the droplet suite, the local cloud's tests and matrix-js-sdk's fetch (matrixClient.ts).
 */
import * as https from "https";
import * as net from "net";

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  raw: Buffer;
  json<T = Record<string, unknown>>(): T;
}

/**
 * An HTTPS request to a test host name, sent to `address` (default 127.0.0.1; from `from`) with the host name as SNI and
 * Host header, and the certificate checked against `ca`, as a client that resolves the
 * name to this machine would.
 */
export function request(
  url: string,
  ca: string,
  options: { method?: string; body?: string | Buffer; headers?: Record<string, string>; address?: string; from?: string; signal?: AbortSignal } = {},
): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: options.address ?? "127.0.0.1",
        localAddress: options.from,
        port: Number(u.port || 443),
        servername: net.isIP(u.hostname) ? undefined : u.hostname,
        path: u.pathname + u.search,
        method: options.method ?? "GET",
        headers: {
          host: u.host,
          ...(options.body !== undefined ? { "content-length": String(Buffer.byteLength(options.body)) } : {}),
          ...(options.headers ?? {}),
        },
        ca,
        signal: options.signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const raw = Buffer.concat(chunks);
          const body = raw.toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, raw, json: () => JSON.parse(body) });
        });
      },
    );
    req.on("error", reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}
