/**
 * Every port the payload names, in one place: those the droplet serves on, and the loopback
 * ones its services talk to each other on. The scripts get the ones they use from deploy.env
 * (userData.ts), never as literals (test/deployEnv.test.ts).
 */
/** HTTP: Let's Encrypt's HTTP-01 challenge, and redirects to HTTPS. */
export const HTTP_PORT = 80;
/** HTTPS: clients, Element Web, .well-known, and federation found through .well-known. */
export const HTTPS_PORT = 443;
/** Federation for servers that find the homeserver through SRV, or not at all (Matrix's default). */
export const FEDERATION_PORT = 8448;
/** PostgreSQL, on loopback. */
export const POSTGRES_PORT = 5432;
/** TURN over UDP and TCP, and over TLS (coturn). */
export const TURN_PORT = 3478;
export const TURN_TLS_PORT = 5349;
/**
 * coturn's relay ports: one per allocation (a call participant behind NAT takes one), so 1,024
 * is far beyond what a small server's calls need, and keeps the firewall rule narrow.
 */
export const TURN_RELAY_PORTS = { min: 49152, max: 50175 };
/** How long the TURN credentials Synapse and LiveKit hand out last. */
export const TURN_CREDENTIAL_SECONDS = 3600;
/** LiveKit (MatrixRTC's SFU): its signalling on loopback, behind Caddy's WebSocket proxy. */
export const LIVEKIT_PORT = 7880;
/** LiveKit's media: ICE over TCP for clients whose UDP is blocked, and all UDP media on one port. */
export const LIVEKIT_TCP_PORT = 7881;
export const LIVEKIT_UDP_PORT = 7882;
/** The MatrixRTC authorization service (lk-jwt-service), on loopback behind Caddy. */
export const RTC_AUTH_PORT = 8080;
