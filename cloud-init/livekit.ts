/**
 * LiveKit, the SFU that carries MatrixRTC calls (Element Call, Element X): its config file,
 * its key file and its unit (scripts/install-rtc.sh downloads and starts it).
 * Signalling listens on loopback only (Caddy terminates TLS and proxies the WebSocket); media
 * comes in on one TCP and one UDP port. The droplet's address reaches it from its environment
 * (NODE_IP), found at boot: it is not known when the payload is rendered, and asking a public
 * STUN server for it (use_external_ip) would make startup depend on a third party.
 */
import * as YAML from "yaml";
import { GENERATED, RenderedFile, renderUnit } from "./formats";
import { PATHS, unitFile } from "./paths";
import { LIVEKIT_PORT, LIVEKIT_TCP_PORT, LIVEKIT_UDP_PORT, TURN_CREDENTIAL_SECONDS, TURN_PORT, TURN_TLS_PORT } from "./ports";
import { sandbox } from "./sandbox";
import { Secrets, Settings } from "./settings";

export const LIVEKIT_SERVICE = "matrix-livekit";
/** The API key name LiveKit and the authorization service share (not secret; its secret is). */
export const LIVEKIT_KEY_NAME = "matrix-rtc";
/** Where systemd hands LiveKit its key file (LoadCredential): readable by its account alone. */
const KEY_CREDENTIAL = `/run/credentials/${LIVEKIT_SERVICE}.service/keys`;
/** And coturn's shared secret, when TURN is on. */
const TURN_SECRET_CREDENTIAL = `/run/credentials/${LIVEKIT_SERVICE}.service/turn-secret`;

export interface LivekitOptions {
  /** A YAML file of `key: secret`, readable by LiveKit's account only (LiveKit refuses others). */
  keyFile: string;
  /**
   * coturn (TURN on), which LiveKit names to clients with credentials it derives from the shared
   * secret (TURN REST API, as Synapse does): their path to the SFU from behind a strict NAT.
   */
  turn?: { host: string; secretFile: string };
}

/** LiveKit's config (YAML's data model; LiveKit rejects keys it does not know). */
export function livekitConfig(options: LivekitOptions): Record<string, unknown> {
  return {
    port: LIVEKIT_PORT,
    bind_addresses: ["127.0.0.1"],
    rtc: {
      tcp_port: LIVEKIT_TCP_PORT,
      udp_port: LIVEKIT_UDP_PORT,
      use_external_ip: false,
      ...(options.turn ? {
        turn_servers: ([["udp", TURN_PORT], ["tcp", TURN_PORT], ["tls", TURN_TLS_PORT]] as const).map(([protocol, port]) => ({
          host: options.turn!.host, port, protocol, secret_file: options.turn!.secretFile, ttl: TURN_CREDENTIAL_SECONDS,
        })),
      } : {}),
    },
    key_file: options.keyFile,
    room: {
      // Rooms are made by the authorization service for this server's users only: a token
      // alone (a guest of another server) can join a call, never start one.
      auto_create: false,
      empty_timeout: 300,
      departure_timeout: 20,
    },
    logging: { level: "info" },
  };
}

export function livekitFiles(settings: Settings, secrets: Secrets): RenderedFile[] {
  if (!settings.matrixRtc) return [];
  return [
    {
      path: PATHS.livekitConfig,
      content: `# ${GENERATED}\n${YAML.stringify(livekitConfig({
        keyFile: KEY_CREDENTIAL, ...(settings.turn ? { turn: { host: settings.turn.host, secretFile: TURN_SECRET_CREDENTIAL } } : {}),
      }))}`,
      permissions: "0644",
    },
    { path: PATHS.livekitKeys, content: YAML.stringify({ [LIVEKIT_KEY_NAME]: secrets.livekitSecret }), permissions: "0600" },
    ...(settings.turn ? [{ path: PATHS.livekitTurnSecret, content: `${secrets.turnSharedSecret}\n`, permissions: "0600" }] : []),
    {
      path: unitFile(`${LIVEKIT_SERVICE}.service`),
      content: renderUnit({
        Unit: {
          Description: "LiveKit, the SFU of MatrixRTC calls",
          After: "network-online.target",
          Wants: "network-online.target",
          // install-rtc.sh writes the address, then starts it.
          ConditionPathExists: PATHS.rtcAddressEnv,
        },
        Service: {
          ExecStart: `${PATHS.rtcBinDir}/livekit-server --config ${PATHS.livekitConfig}`,
          EnvironmentFile: PATHS.rtcAddressEnv,
          // An account of its own for each start, holding nothing on disk.
          DynamicUser: "yes",
          LoadCredential: [`keys:${PATHS.livekitKeys}`, ...(settings.turn ? [`turn-secret:${PATHS.livekitTurnSecret}`] : [])],
          // LiveKit exits 0 on a config error too.
          Restart: "always",
          RestartSec: "5",
          // Netlink: it lists the droplet's interfaces for its media addresses.
          ...sandbox({ extraAddressFamilies: ["AF_NETLINK"] }),
        },
        Install: { WantedBy: "multi-user.target" },
      }),
      permissions: "0644",
    },
  ];
}
