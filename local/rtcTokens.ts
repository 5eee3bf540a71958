/**
 * MatrixRTC's tokens, as a client gets them before it joins a call: an OpenID token from the
 * user's homeserver, traded at the authorization service (`https://<rtc host>/sfu/get`) for a
 * LiveKit token. Used by the droplet suite, the local cloud's test and the benchmark.
 */
import { Reply } from "./https";

/** HTTPS to a droplet, a test host name in the URL. */
export type Https = (url: string, options?: { method?: string; headers?: Record<string, string>; body?: string }) => Promise<Reply>;

/** An OpenID token for `userId`, as a client asks its homeserver for one before joining a call. */
export async function openIdToken(https: Https, matrixHost: string, userId: string, bearer: string): Promise<Record<string, unknown>> {
  const reply = await https(`https://${matrixHost}/_matrix/client/v3/user/${encodeURIComponent(userId)}/openid/request_token`, {
    method: "POST", headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" }, body: "{}",
  });
  if (reply.status !== 200) throw new Error(`no OpenID token for ${userId}: ${reply.status} ${reply.body}`);
  return reply.json();
}

/** The authorization service's exchange: an OpenID token (and the call's room and device) for a LiveKit token. */
export function sfuGet(https: Https, rtcHost: string, body: unknown): Promise<Reply> {
  return https(`https://${rtcHost}/sfu/get`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** The LiveKit token of each caller (`userId` and its access token, `bearer`) for one room; each must point at wss://<rtc host>. */
export async function liveKitTokens(https: Https, hosts: { matrixHost: string; rtcHost: string }, room: string,
  callers: { userId: string; bearer: string }[]): Promise<string[]> {
  const jwts: string[] = [];
  for (const [i, c] of callers.entries()) {
    const reply = await sfuGet(https, hosts.rtcHost, { room, openid_token: await openIdToken(https, hosts.matrixHost, c.userId, c.bearer), device_id: `DEVICE${i}` });
    if (reply.status !== 200) throw new Error(`no LiveKit token for ${c.userId}: ${reply.status} ${reply.body}`);
    const { url, jwt } = reply.json<{ url: string; jwt: string }>();
    if (url !== `wss://${hosts.rtcHost}`) throw new Error(`the authorization service named ${url} as the SFU, not wss://${hosts.rtcHost}`);
    jwts.push(jwt);
  }
  return jwts;
}
