/**
 * Element's MatrixRTC authorization service (lk-jwt-service): clients trade an OpenID token
 * from their homeserver for a LiveKit token here. Configured entirely by its environment (its
 * README); scripts/install-rtc.sh downloads and starts it. It listens on loopback; Caddy serves
 * its routes on the MatrixRTC host (caddy.ts).
 */
import { GENERATED, RenderedFile, renderUnit } from "./formats";
import { LIVEKIT_KEY_NAME } from "./livekit";
import { PATHS, unitFile } from "./paths";
import { RTC_AUTH_PORT } from "./ports";
import { sandbox } from "./sandbox";
import { Settings } from "./settings";

export const RTC_AUTH_SERVICE = "matrix-rtc-auth";
/** The paths it answers (0.5.0 has no other route); everything else on the MatrixRTC host is LiveKit's. */
export const RTC_AUTH_PATHS = ["/sfu/get", "/get_token", "/healthz"];

/** Its environment, as its code (0.5.0) reads the variables. */
export function rtcAuthEnvironment(settings: Settings): Record<string, string> {
  const rtc = settings.matrixRtc!;
  return {
    LIVEKIT_URL: `wss://${rtc.host}`,
    LIVEKIT_KEY: LIVEKIT_KEY_NAME,
    LIVEKIT_SECRET_FROM_FILE: `/run/credentials/${RTC_AUTH_SERVICE}.service/secret`,
    LIVEKIT_JWT_BIND: `127.0.0.1:${RTC_AUTH_PORT}`,
    // This server's users may start calls; others may join the calls they are invited to.
    LIVEKIT_FULL_ACCESS_HOMESERVERS: settings.serverName,
  };
}

/**
 * Its /etc/hosts. It checks a user's OpenID token at the user's homeserver, found by name, and
 * makes the call's room at LiveKit, at LIVEKIT_URL: for this server's users, both are the droplet
 * itself. Their names resolve to loopback (Caddy answers there too) rather than to the reserved
 * IP, which a droplet may not reach from inside.
 */
export function rtcAuthHosts(settings: Settings): string {
  return `# ${GENERATED}\n127.0.0.1 localhost ${settings.serverName} ${settings.matrixHost} ${settings.matrixRtc!.host}\n::1 localhost\n`;
}

export function rtcAuthFiles(settings: Settings, secrets: { livekitSecret: string }): RenderedFile[] {
  if (!settings.matrixRtc) return [];
  return [
    { path: PATHS.livekitSecret, content: `${secrets.livekitSecret}\n`, permissions: "0600" },
    { path: PATHS.rtcAuthHosts, content: rtcAuthHosts(settings), permissions: "0644" },
    {
      path: unitFile(`${RTC_AUTH_SERVICE}.service`),
      content: renderUnit({
        Unit: { Description: "MatrixRTC authorization service (lk-jwt-service)", After: "network-online.target", Wants: "network-online.target" },
        Service: {
          ExecStart: `${PATHS.rtcBinDir}/lk-jwt-service`,
          Environment: Object.entries(rtcAuthEnvironment(settings)).map(([name, value]) => `${name}=${value}`),
          DynamicUser: "yes",
          LoadCredential: `secret:${PATHS.livekitSecret}`,
          BindReadOnlyPaths: `${PATHS.rtcAuthHosts}:/etc/hosts`,
          Restart: "always",
          RestartSec: "5",
          ...sandbox(),
        },
        Install: { WantedBy: "multi-user.target" },
      }),
      permissions: "0644",
    },
  ];
}
