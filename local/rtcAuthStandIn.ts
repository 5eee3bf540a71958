/**
 * A stand-in for Element's MatrixRTC authorization service (lk-jwt-service), which no registry
 * here serves. Written here from its documented HTTP contract (its README), not from its code:
 *
 * - POST /sfu/get {room, openid_token, device_id} and POST /get_token {room_id, slot_id,
 *   openid_token, member: {id, claimed_user_id, claimed_device_id}} answer {url, jwt}: a LiveKit
 *   token for the call's room, once the OpenID token is confirmed by the user's homeserver
 *   (GET /_matrix/federation/v1/openid/userinfo) and belongs to that server;
 * - users of the servers in `fullAccessHomeservers` also get the room made at the SFU (others
 *   may only join a call that exists);
 * - GET or HEAD /healthz → 200; OPTIONS → 200 with CORS; other methods → 405;
 * - errors are {errcode, error}: 400 M_NOT_JSON (unreadable body or an unknown field),
 *   400 M_BAD_JSON (a field missing), 401 M_UNAUTHORIZED (the token is not confirmed),
 *   500 M_UNKNOWN (the SFU refused to make the room).
 */
import * as crypto from "crypto";
import * as http from "http";
import { createRoom, livekitToken } from "./livekit";

export interface RtcAuthOptions {
  /** wss://… of the SFU, returned to clients as `url`. */
  livekitUrl: string;
  /** http://… of the SFU's server API, where rooms are made. */
  livekitApi: string;
  key: string;
  secret: string;
  fullAccessHomeservers: string[];
  /** Where a server name's federation API is (the real service discovers it: .well-known, SRV, 8448). */
  federationBase(serverName: string): string;
  /** Fetch for the OpenID check (a test's trust store). */
  fetch?: typeof fetch;
}

export interface RtcAuth {
  port: number;
  close(): Promise<void>;
}

class Refusal extends Error {
  constructor(readonly status: number, readonly errcode: string, message: string) {
    super(message);
  }
}

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "POST",
  "access-control-allow-headers": "Accept, Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token",
};

/** Unpadded base64 of SHA-256 over the JSON of `parts`: how the service names rooms and members. */
export function hashName(parts: string[]): string {
  return crypto.createHash("sha256").update(JSON.stringify(parts)).digest("base64").replace(/=+$/, "");
}

type Json = Record<string, unknown>;

/** The body's fields, exactly those named: an unknown one is refused, as the service's strict decoder does. */
function fields(body: string, required: string[], optional: string[] = []): Json {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new Refusal(400, "M_NOT_JSON", "Error reading request");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Refusal(400, "M_NOT_JSON", "Error reading request");
  const object = value as Json;
  if (Object.keys(object).some((key) => !required.includes(key) && !optional.includes(key))) throw new Refusal(400, "M_NOT_JSON", "Error reading request");
  const missing = required.filter((key) => object[key] === undefined || object[key] === "");
  if (missing.length > 0) throw new Refusal(400, "M_BAD_JSON", `The request body is missing \`${missing[0]}\``);
  return object;
}

interface OpenIdToken {
  access_token: string;
  matrix_server_name: string;
}

function openIdToken(value: unknown): OpenIdToken {
  const token = fields(JSON.stringify(value ?? null), ["access_token", "matrix_server_name"], ["token_type", "expires_in"]);
  return token as unknown as OpenIdToken;
}

export async function startRtcAuth(options: RtcAuthOptions, port = 0): Promise<RtcAuth> {
  const get = options.fetch ?? fetch;

  /** The Matrix user the homeserver vouches for, or a refusal. */
  async function userOf(token: OpenIdToken): Promise<string> {
    const url = new URL("/_matrix/federation/v1/openid/userinfo", options.federationBase(token.matrix_server_name));
    url.searchParams.set("access_token", token.access_token);
    let sub: unknown;
    try {
      const reply = await get(url);
      if (reply.status !== 200) throw new Error(String(reply.status));
      sub = ((await reply.json()) as Json).sub;
    } catch {
      throw new Refusal(401, "M_UNAUTHORIZED", "The request could not be authorised.");
    }
    if (typeof sub !== "string" || !sub.endsWith(`:${token.matrix_server_name}`)) {
      throw new Refusal(401, "M_UNAUTHORIZED", "The request could not be authorised.");
    }
    return sub;
  }

  async function grant(serverName: string, room: string, identity: string): Promise<Json> {
    if (options.fullAccessHomeservers.includes(serverName) || options.fullAccessHomeservers.includes("*")) {
      const made = await createRoom(options.livekitApi, options.key, options.secret, room);
      if (made !== 200) throw new Refusal(500, "M_UNKNOWN", "Unable to create room on SFU");
    }
    const jwt = livekitToken(options.key, options.secret, identity, { room, roomJoin: true, roomCreate: false, canPublish: true, canSubscribe: true }, 3600);
    return { url: options.livekitUrl, jwt };
  }

  const routes: Record<string, (body: string) => Promise<Json>> = {
    "/sfu/get": async (body) => {
      const request = fields(body, ["room", "openid_token", "device_id"]);
      const token = openIdToken(request.openid_token);
      const user = await userOf(token);
      return grant(token.matrix_server_name, hashName([String(request.room), "m.call#ROOM"]), `${user}:${String(request.device_id)}`);
    },
    "/get_token": async (body) => {
      const request = fields(body, ["room_id", "slot_id", "openid_token", "member"], ["delay_id", "delay_timeout", "delay_cs_api_url"]);
      const token = openIdToken(request.openid_token);
      const member = fields(JSON.stringify(request.member), ["id", "claimed_user_id", "claimed_device_id"]);
      const user = await userOf(token);
      if (member.claimed_user_id !== user) throw new Refusal(401, "M_UNAUTHORIZED", "The request could not be authorised.");
      return grant(token.matrix_server_name, hashName([String(request.room_id), String(request.slot_id)]),
        hashName([user, String(member.claimed_device_id), String(member.id)]));
    },
  };

  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://stand-in").pathname;
    const answer = (status: number, body?: Json, headers: Record<string, string> = {}) => {
      res.writeHead(status, { ...headers, ...(body ? { "content-type": "application/json" } : {}) });
      res.end(body ? JSON.stringify(body) : undefined);
    };
    if (path === "/healthz") return answer(req.method === "GET" || req.method === "HEAD" ? 200 : 405);
    const route = routes[path];
    if (!route) return answer(404, { errcode: "M_NOT_FOUND", error: "Not found" });
    if (req.method === "OPTIONS") return answer(200, undefined, CORS);
    if (req.method !== "POST") return answer(405, undefined, CORS);
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      route(body).then((reply) => answer(200, reply, CORS), (error: unknown) => {
        const refusal = error instanceof Refusal ? error : new Refusal(500, "M_UNKNOWN", "Internal Server Error");
        answer(refusal.status, { errcode: refusal.errcode, error: refusal.message }, CORS);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
