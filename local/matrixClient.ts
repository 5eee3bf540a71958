/**
 * matrix-js-sdk clients for the local droplet: the real client library, talking HTTPS to the
 * droplet's address with the test domain's names, trusting Pebble's root.
 */
import type { MatrixClient } from "matrix-js-sdk";
import type { Logger } from "matrix-js-sdk/lib/logger.js";
import { request } from "./https";

type Sdk = typeof import("matrix-js-sdk");
let sdk: Sdk | undefined;

export async function loadSdk(): Promise<Sdk> {
  if (!sdk) {
    sdk = await import("matrix-js-sdk");
    // Parts of the SDK log through its global logger (loglevel) at debug level; keep warnings.
    const { logger } = await import("matrix-js-sdk/lib/logger.js");
    (logger as unknown as { setLevel(level: string): void }).setLevel("warn");
  }
  return sdk;
}

async function bodyOf(body: unknown): Promise<string | Buffer | undefined> {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string" || Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (body instanceof Blob) return Buffer.from(await body.arrayBuffer());
  throw new Error(`unsupported request body: ${Object.prototype.toString.call(body)}`);
}

/** A fetch() that sends every request to `address`, with TLS names from the URL, trusting `ca`. */
export function fetchVia(address: string, ca: string): typeof fetch {
  return (async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => (headers[key] = value));
    const reply = await request(url, ca, {
      method: init.method ?? "GET",
      headers,
      body: await bodyOf(init.body),
      address,
      signal: init.signal ?? undefined,
    });
    const responseHeaders = new Headers();
    for (const [key, value] of Object.entries(reply.headers)) {
      if (value !== undefined) responseHeaders.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    const empty = [101, 204, 205, 304].includes(reply.status);
    return new Response(empty ? null : new Uint8Array(reply.raw), { status: reply.status, headers: responseHeaders });
  }) as typeof fetch;
}

/** The SDK logs every sync at info level; keep warnings and errors only. */
const quiet: Logger = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (...msg: unknown[]) => console.warn("[matrix-js-sdk]", ...msg),
  error: (...msg: unknown[]) => console.error("[matrix-js-sdk]", ...msg),
  getChild: () => quiet,
};

export interface Session {
  client: MatrixClient;
  userId: string;
}

/** A client with no account, for what anyone on the internet can try. */
export async function anonymousClient(baseUrl: string, fetchFn: typeof fetch): Promise<MatrixClient> {
  const { createClient } = await loadSdk();
  return createClient({ baseUrl, fetchFn, logger: quiet });
}

/** Log in with a password, as Element would. */
export async function loginClient(baseUrl: string, fetchFn: typeof fetch, user: string, password: string): Promise<Session> {
  const { createClient } = await loadSdk();
  const anonymous = await anonymousClient(baseUrl, fetchFn);
  const login = await anonymous.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user }, password });
  const client = createClient({ baseUrl, fetchFn, logger: quiet, accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id });
  return { client, userId: login.user_id };
}

/** A client for an access token the admin API issued (no password login, so no login rate limit). */
export async function tokenClient(baseUrl: string, fetchFn: typeof fetch, userId: string, accessToken: string): Promise<Session> {
  const { createClient } = await loadSdk();
  return { client: createClient({ baseUrl, fetchFn, logger: quiet, accessToken, userId }), userId };
}
