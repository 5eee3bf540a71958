/**
 * TURN for voice and video calls: coturn's config, its systemd drop-in, and the timer that
 * hands it Caddy's certificate for the TURN name. Synapse's side (turn_uris and the shared
 * secret) is in synapse.ts; scripts/start-turn.sh brings coturn up.
 *
 * DigitalOcean delivers a reserved IP through an anchor address, so replies would leave from
 * the droplet's own address; TURN therefore listens and relays on the droplet's own IPv4, which
 * start-turn.sh finds at boot (it is not known when the payload is rendered), and turn.<domain>
 * points there.
 */
import * as net from "net";
import { ConfLine, GENERATED, RenderedFile, renderCoturnConf, renderUnit } from "./formats";
import { sandbox } from "./sandbox";
import { PATHS, dropInFile, unitFile } from "./paths";
import { TURN_PORT, TURN_TLS_PORT } from "./ports";
import { Secrets, Settings, TurnSettings } from "./settings";
import { CADDY_SERVICE } from "./caddy";

export const TURN_SERVICE = "coturn";
export const TURN_CERTIFICATE_SERVICE = "matrix-turn-certificate";

/**
 * Peers TURN never relays to: private, loopback, link-local, shared (CGNAT), documentation and
 * other special ranges (Synapse's TURN guide), so a client cannot use the server to reach the
 * droplet's own services, the metadata service or the VPC.
 */
export const DENIED_PEER_CIDRS = [
  "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
  "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
  "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
  "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "100::/64", "2001::/23", "2002::/16", "fc00::/7", "fe80::/10",
];

/** A CIDR as coturn's `first-last` address range. */
export function cidrRange(cidr: string): string {
  const [address, bitsText] = cidr.split("/");
  const family = net.isIP(address);
  if (!family || !/^\d+$/.test(bitsText)) throw new Error(`not a CIDR: ${cidr}`);
  const width = family === 4 ? 32 : 128;
  const bits = Number(bitsText);
  if (bits > width) throw new Error(`not a CIDR: ${cidr}`);
  const value = family === 4 ? ipv4ToBigInt(address) : ipv6ToBigInt(address);
  const hostMask = (1n << BigInt(width - bits)) - 1n;
  const first = value & ~hostMask;
  const last = first | hostMask;
  const format = family === 4 ? bigIntToIpv4 : bigIntToIpv6;
  return first === last ? format(first) : `${format(first)}-${format(last)}`;
}

function ipv4ToBigInt(address: string): bigint {
  return address.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function bigIntToIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join(".");
}

function ipv6ToBigInt(address: string): bigint {
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const groups = (text: string) => (text === "" ? [] : text.split(":"));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const expand = (parts: string[]) => parts.flatMap((part) => {
    if (!part.includes(".")) return [part];
    const v4 = ipv4ToBigInt(part);
    return [(v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)];
  });
  const l = expand(left);
  const r = expand(right);
  const all = tail === undefined ? l : [...l, ...Array(8 - l.length - r.length).fill("0"), ...r];
  return all.reduce((acc, part) => (acc << 16n) | BigInt(parseInt(part, 16)), 0n);
}

function bigIntToIpv6(value: bigint): string {
  const parts = Array.from({ length: 8 }, (_, i) => ((value >> BigInt(16 * (7 - i))) & 0xffffn).toString(16));
  // The shortest form: the longest run of zero groups becomes "::".
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8;) {
    if (parts[i] !== "0") { i += 1; continue; }
    let j = i;
    while (j < 8 && parts[j] === "0") j += 1;
    if (j - i > best.length && j - i > 1) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start < 0) return parts.join(":");
  return `${parts.slice(0, best.start).join(":")}::${parts.slice(best.start + best.length).join(":")}`;
}

/**
 * TLS on coturn's TLS port as on Caddy's: ECDHE with AEAD ciphers only (no CBC), for ECDSA and
 * RSA certificates, then TLS 1.3's suites (coturn sets both lists from this one string).
 * Debian 13's coturn 4.6.1 cannot speak TLS 1.3 at all (it picks a TLS 1.2-only context from the
 * ClientHello's record version; fixed upstream in 4.6.2, coturn/coturn#989): the droplet test
 * asks for TLS 1.3 wherever coturn is new enough.
 */
export const TURN_TLS_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
  "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
];

/** turnserver.conf. The droplet's address comes on the command line (the drop-in below). */
export function turnserverConf(settings: Settings, turn: TurnSettings, secrets: Secrets): ConfLine[] {
  return [
    ["listening-port", TURN_PORT],
    ["tls-listening-port", TURN_TLS_PORT],
    // Clients use TURN over UDP, TCP and TLS; DTLS is left off (its port is not opened).
    ["no-dtls"],
    ["min-port", turn.relayPorts.min],
    ["max-port", turn.relayPorts.max],
    ["realm", settings.serverName],
    // Synapse hands out time-limited credentials derived from this secret (TURN REST API).
    ["use-auth-secret"],
    ["static-auth-secret", secrets.turnSharedSecret],
    ["fingerprint"],
    ["cert", PATHS.turnCertificate],
    ["pkey", PATHS.turnKey],
    ["no-tlsv1"],
    ["no-tlsv1_1"],
    ["cipher-list", TURN_TLS_CIPHERS.join(":")],
    ["no-cli"],
    ["no-software-attribute"],
    ["no-rfc5780"],
    ["no-stun-backward-compatibility"],
    ["response-origin-only-with-rfc5780"],
    ["no-multicast-peers"],
    // Bound what one user (and everyone) can hold open.
    ["user-quota", 12],
    ["total-quota", 1200],
    ["stale-nonce", 600],
    ["log-file", "stdout"],
    ["simple-log"],
    ...DENIED_PEER_CIDRS.map((cidr): ConfLine => ["denied-peer-ip", cidrRange(cidr)]),
  ];
}

export function turnFiles(settings: Settings, secrets: Secrets): RenderedFile[] {
  const turn = settings.turn;
  if (!turn) return [];
  return [
    {
      path: PATHS.turnConfig,
      content: `# ${GENERATED}\n${renderCoturnConf(turnserverConf(settings, turn, secrets))}`,
      permissions: "0640",
      group: "turnserver",
    },
    {
      // Debian's /etc/turnserver.conf stays untouched; the service reads ours, and listens and
      // relays on the droplet's own address only. That address may be a peer, so calls between
      // two clients that both relay work (Synapse's TURN guide).
      path: dropInFile(TURN_SERVICE),
      content: renderUnit({
        // Installing the package starts coturn before start-turn.sh has written the address:
        // without this condition that start fails and restarts until systemd's start limit.
        Unit: { After: "network-online.target", Wants: "network-online.target", ConditionPathExists: PATHS.turnAddressEnv },
        Service: {
          EnvironmentFile: PATHS.turnAddressEnv,
          ExecStart: ["", `/usr/bin/turnserver -c ${PATHS.turnConfig} --pidfile= --listening-ip=\${TURN_IP} --relay-ip=\${TURN_IP} --allowed-peer-ip=\${TURN_IP}`],
          // Its log goes to the journal; it writes nothing. Netlink: it reads the droplet's addresses.
          ...sandbox({ extraAddressFamilies: ["AF_NETLINK"] }),
        },
      }),
      permissions: "0644",
    },
    {
      path: unitFile(`${TURN_CERTIFICATE_SERVICE}.service`),
      content: renderUnit({
        Unit: { Description: "Give coturn Caddy's certificate for the TURN name", After: `${CADDY_SERVICE}.service` },
        Service: {
          Type: "oneshot",
          ExecStart: `${PATHS.scriptsDir}/turn-certificate.sh`,
          // Root, reading Caddy's certificate and writing coturn's copy (group turnserver).
          ...sandbox({ asRoot: true, writable: [PATHS.deployDir], capabilities: ["CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_READ_SEARCH"] }),
        },
      }),
      permissions: "0644",
    },
    {
      // Caddy renews 30 days before expiry; checking twice an hour picks a renewal up at once.
      path: unitFile(`${TURN_CERTIFICATE_SERVICE}.timer`),
      content: renderUnit({
        Unit: { Description: "Keep coturn's certificate the one Caddy renews" },
        Timer: { OnBootSec: "2min", OnUnitActiveSec: "30min" },
        Install: { WantedBy: "timers.target" },
      }),
      permissions: "0644",
    },
  ];
}
