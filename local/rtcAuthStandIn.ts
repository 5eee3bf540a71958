/**
 * A stand-in for Element's MatrixRTC authorization service (lk-jwt-service 0.5.0), whose binary
 * cannot be downloaded here: test/rtc-auth-stand-in, a small Go program that answers as the
 * real release does, built here. It reads only the service's own environment and finds
 * homeservers as the service does (.well-known, SRV, port 8448, TLS against the system's roots),
 * so the payload installs it where it installs the real one; this runs it on this machine, where
 * a hosts file of its own and a CA bundle (SSL_CERT_FILE) lead it to the services test's Caddy.
 */
import { goBuildHere } from "./goBuild";
import { Hosts, Service, freePort, startProcess, waitUntil, withHosts } from "./process";

/** The stand-in's binary (built once; rebuilt when its sources change). */
export function ensureRtcAuthStandIn(): string {
  return goBuildHere("test/rtc-auth-stand-in", "rtc-auth-stand-in");
}

export interface RtcAuthOptions {
  /** ws(s)://… of the SFU, returned to clients as `url`; its server API is at the same place. */
  livekitUrl: string;
  key: string;
  secret: string;
  /** LIVEKIT_FULL_ACCESS_HOMESERVERS as written (comma- or space-separated; `*` alone for everyone). */
  fullAccessHomeservers: string;
  /** Names it alone resolves (its own /etc/hosts), as the payload gives the real service. */
  hosts?: Hosts;
  /** The CA bundle it trusts (SSL_CERT_FILE), instead of this machine's. */
  trust?: string;
  /** More of the service's environment (LIVEKIT_INSECURE_SKIP_VERIFY_TLS, say). */
  env?: Record<string, string>;
}

export interface RtcAuth {
  port: number;
  output(): string;
  close(): Promise<void>;
}

/** The environment startRtcAuth gives it, listening on 127.0.0.1:`port`. */
export function rtcAuthEnv(options: RtcAuthOptions, port: number): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(LIVEKIT_|SSL_CERT_)/.test(name)));
  return {
    ...inherited,
    ...(options.trust ? { SSL_CERT_FILE: options.trust } : {}),
    LIVEKIT_URL: options.livekitUrl,
    LIVEKIT_KEY: options.key,
    LIVEKIT_SECRET: options.secret,
    LIVEKIT_FULL_ACCESS_HOMESERVERS: options.fullAccessHomeservers,
    LIVEKIT_JWT_BIND: `127.0.0.1:${port}`,
    ...options.env,
  };
}

/** The stand-in, started and answering /healthz. */
export async function startRtcAuth(options: RtcAuthOptions): Promise<RtcAuth> {
  const port = await freePort();
  const service: Service = startProcess(...withHosts(options.hosts, ensureRtcAuthStandIn(), []), rtcAuthEnv(options, port));
  await waitUntil("the authorization service stand-in", 30, async () => {
    if (service.process.exitCode !== null) throw new Error(`the stand-in exited:\n${service.output()}`);
    return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200;
  });
  return { port, output: service.output, close: () => service.stop() };
}
