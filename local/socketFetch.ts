/**
 * HTTP over Unix sockets: Synapse listens on sockets only (cloud-init/synapse.ts), and Node's
 * fetch speaks TCP alone.
 */
import * as http from "http";
import * as net from "net";

export type SocketFetch = (path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }) => Promise<Response>;

/** Requests to the server on `socketPath`; `path` is the request's path and query. */
export function socketFetch(socketPath: string): SocketFetch {
  return (path, init = {}) => new Promise((resolve, reject) => {
    const request = http.request({ socketPath, path, method: init.method ?? "GET", headers: { host: "localhost", ...init.headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
        }
        const status = response.statusCode!;
        // A Response of these statuses may not have a body, even an empty one.
        const body = [101, 204, 205, 304].includes(status) ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status, headers }));
      });
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end(init.body);
  });
}

/**
 * A loopback HTTP port in front of `socketPath` that passes each client's address on in
 * X-Forwarded-For, as Caddy does (Synapse needs one on its client socket), for clients that
 * speak TCP only (matrix-rust-sdk) or that stand for another server (the call service).
 */
export function httpToSocket(socketPath: string): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((incoming, outgoing) => {
    const upstream = http.request({
      socketPath, path: incoming.url, method: incoming.method,
      headers: { ...incoming.headers, "x-forwarded-for": incoming.socket.remoteAddress ?? "127.0.0.1" },
    }, (reply) => {
      outgoing.writeHead(reply.statusCode!, reply.headers);
      reply.pipe(outgoing);
    });
    upstream.on("error", () => outgoing.destroy());
    incoming.pipe(upstream);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({
      port: (server.address() as net.AddressInfo).port,
      close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done()); }),
    }));
  });
}
