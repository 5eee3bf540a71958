/**
 * A stand-in for Element's MatrixRTC authorization service (lk-jwt-service), which no registry
 * here serves: test/rtc-auth-stand-in, a small Go program written from the service's documented
 * contract (its README), built here. It reads the service's environment, so the payload can
 * install it where it installs the real one; this runs it on this machine for the services test.
 */
import { goBuildHere } from "./goBuild";
import { Service, freePort, startProcess, waitUntil } from "./process";

/** The stand-in's binary (built once; rebuilt when its sources change). */
export function ensureRtcAuthStandIn(): string {
  return goBuildHere("test/rtc-auth-stand-in", "rtc-auth-stand-in");
}

export interface RtcAuthOptions {
  /** ws(s)://… of the SFU, returned to clients as `url`; its server API is at the same place. */
  livekitUrl: string;
  key: string;
  secret: string;
  fullAccessHomeservers: string[];
  /** Server name → base URL of its federation API, instead of finding it (.well-known, port 8448). */
  federation?: Record<string, string>;
}

export interface RtcAuth {
  port: number;
  close(): Promise<void>;
}

export async function startRtcAuth(options: RtcAuthOptions): Promise<RtcAuth> {
  const port = await freePort();
  const service: Service = startProcess(ensureRtcAuthStandIn(), [], {
    ...process.env,
    LIVEKIT_URL: options.livekitUrl,
    LIVEKIT_KEY: options.key,
    LIVEKIT_SECRET: options.secret,
    LIVEKIT_FULL_ACCESS_HOMESERVERS: options.fullAccessHomeservers.join(","),
    LIVEKIT_JWT_BIND: `127.0.0.1:${port}`,
    STAND_IN_FEDERATION_OVERRIDES: Object.entries(options.federation ?? {}).map(([server, base]) => `${server}=${base}`).join(","),
  });
  await waitUntil("the authorization service stand-in", 30, async () => {
    if (service.process.exitCode !== null) throw new Error(`the stand-in exited:\n${service.output()}`);
    return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200;
  });
  return { port, close: () => service.stop() };
}
