/**
 * LiveKit, the SFU that carries MatrixRTC calls (Element Call, Element X): its config file.
 * Signalling listens on loopback only (Caddy terminates TLS and proxies the WebSocket); media
 * comes in on one TCP and one UDP port. The droplet's address reaches it from its environment
 * (NODE_IP), found at boot: it is not known when the payload is rendered, and asking a public
 * STUN server for it (use_external_ip) would make startup depend on a third party.
 */
import { LIVEKIT_PORT, LIVEKIT_TCP_PORT, LIVEKIT_UDP_PORT } from "./ports";

export interface LivekitOptions {
  /** A YAML file of `key: secret`, readable by LiveKit's account only (LiveKit refuses others). */
  keyFile: string;
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
