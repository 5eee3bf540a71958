/**
 * What the Matrix federation tester checks, done from here (the tester itself cannot be
 * fetched on this machine): discover the server as another homeserver would — .well-known
 * first, then the SRV record — connect with the TLS name the spec prescribes, and check the
 * certificate, the signed server keys and the federation version endpoint.
 */
import * as crypto from "crypto";
import * as dns from "dns/promises";
import { Reply, request } from "../../local/https";

export interface FederationReport {
  /** How the server was found. */
  via: "well-known" | "srv";
  host: string;
  port: number;
  /** The TLS name the certificate had to be valid for. */
  tlsName: string;
  serverVersion: string;
  keyIds: string[];
}

/** GET https://<tlsName>:<port><path> from `address`: the certificate must be valid for tlsName. */
function get(address: string, port: number, tlsName: string, path: string, ca: string): Promise<Reply> {
  return request(`https://${tlsName}:${port}${path}`, ca, { address });
}

/** Matrix canonical JSON: sorted keys, no insignificant whitespace. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function ed25519Key(unpaddedBase64: string): crypto.KeyObject {
  const raw = Buffer.from(unpaddedBase64, "base64");
  return crypto.createPublicKey({ key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]), format: "der", type: "spki" });
}

/** Check the server's signed key response; returns its key ids. Throws on any fault. */
export function verifyServerKeys(serverName: string, body: string): string[] {
  const keys = JSON.parse(body) as {
    server_name: string;
    valid_until_ts: number;
    verify_keys: Record<string, { key: string }>;
    signatures: Record<string, Record<string, string>>;
  };
  if (keys.server_name !== serverName) throw new Error(`keys are for ${keys.server_name}, not ${serverName}`);
  if (!(keys.valid_until_ts > Date.now())) throw new Error("keys have expired");
  const { signatures, ...signed } = keys;
  delete (signed as Record<string, unknown>).unsigned;
  const ids = Object.keys(keys.verify_keys);
  if (ids.length === 0) throw new Error("no verify keys");
  for (const id of ids) {
    const signature = signatures?.[serverName]?.[id];
    if (!signature) throw new Error(`key ${id} has not signed the response`);
    const ok = crypto.verify(null, Buffer.from(canonicalJson(signed)), ed25519Key(keys.verify_keys[id].key), Buffer.from(signature, "base64"));
    if (!ok) throw new Error(`bad signature by ${id}`);
  }
  return ids;
}

/**
 * Discover and check `serverName` using the DNS server at `nameserver`, trusting `ca`.
 * Resolves with what was found; rejects with the first failed check.
 */
export async function checkFederation(serverName: string, nameserver: string, ca: string): Promise<FederationReport> {
  const resolver = new dns.Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([nameserver]);
  const addressOf = async (host: string) => (await resolver.resolve4(host))[0];

  let via: FederationReport["via"];
  let host: string;
  let port: number;
  let tlsName: string;
  let wellKnown: Reply | undefined;
  try {
    wellKnown = await get(await addressOf(serverName), 443, serverName, "/.well-known/matrix/server", ca);
  } catch {
    wellKnown = undefined; // no usable .well-known: fall through to SRV, as servers do
  }
  const delegated = wellKnown?.status === 200 ? (JSON.parse(wellKnown.body)["m.server"] as string | undefined) : undefined;
  if (delegated) {
    const [h, p] = delegated.split(":");
    via = "well-known";
    host = h;
    port = Number(p ?? 8448);
    tlsName = h; // delegated: the certificate must be valid for the delegated host
  } else {
    const [record] = await resolver.resolveSrv(`_matrix-fed._tcp.${serverName}`);
    if (!record) throw new Error(`no .well-known and no SRV record for ${serverName}`);
    via = "srv";
    host = record.name;
    port = record.port;
    tlsName = serverName; // SRV: the certificate must be valid for the server name
  }
  const address = await addressOf(host);
  const keys = await get(address, port, tlsName, "/_matrix/key/v2/server", ca);
  if (keys.status !== 200) throw new Error(`/_matrix/key/v2/server answered ${keys.status}`);
  const keyIds = verifyServerKeys(serverName, keys.body);
  const version = await get(address, port, tlsName, "/_matrix/federation/v1/version", ca);
  if (version.status !== 200) throw new Error(`/_matrix/federation/v1/version answered ${version.status}`);
  const server = JSON.parse(version.body).server as { name: string; version: string };
  return { via, host, port, tlsName, serverVersion: `${server.name} ${server.version}`, keyIds };
}
