/**
 * The Caddyfile: TLS for every host, the reverse proxy to Synapse, .well-known delegation,
 * and Element Web's static files.
 *
 * Only /_matrix and /_synapse/client reach Synapse (Synapse's reverse-proxy guide); the admin
 * API (/_synapse/admin) is never proxied, on any port.
 */
import { Caddyfile, Directive, SiteBlock, d, renderCaddyfileText } from "./caddyfile";
import { RenderedFile, renderUnit } from "./formats";
import { RTC_FOCI_KEY, rtcTransport } from "./matrixRtc";
import { PATHS } from "./paths";
import { FEDERATION_PORT, HTTPS_PORT, LIVEKIT_PORT, RTC_AUTH_PORT } from "./ports";
import { RTC_AUTH_PATHS } from "./rtcAuth";
import { Settings } from "./settings";
import { workerRoutes } from "./synapseWorkers";
import { Topology } from "./topology";

/** Debian's unit; the payload's drop-in points it at our Caddyfile (userData.ts). */
export const CADDY_SERVICE = "caddy";
/** The group of Debian's caddy account: the one that may open Synapse's client socket (paths.ts). */
export const CADDY_GROUP = "caddy";

/** Where Caddy finds Synapse and Element's files, and where it takes config changes; the test suite runs it elsewhere. */
export interface CaddySite {
  synapseUpstream: string;
  elementRoot: string;
  adminSocket: string;
}

export const DROPLET_CADDY_SITE: CaddySite = {
  synapseUpstream: `unix/${PATHS.synapseClientSocket}`,
  elementRoot: PATHS.elementRoot,
  adminSocket: PATHS.caddyAdminSocket,
};

/** Body of /.well-known/matrix/server: federation goes to the matrix host on 443. */
export function wellKnownServer(settings: Settings): { "m.server": string } {
  return { "m.server": `${settings.matrixHost}:${HTTPS_PORT}` };
}

/** Body of /.well-known/matrix/client: where clients find the homeserver. */
export function wellKnownClient(settings: Settings): Record<string, unknown> {
  return {
    "m.homeserver": { base_url: `https://${settings.matrixHost}` },
    ...(settings.matrixRtc ? { [RTC_FOCI_KEY]: [rtcTransport(settings.matrixRtc)] } : {}),
  };
}

function jsonResponse(body: unknown, extraHeaders: Directive[] = [], status = 200): Directive[] {
  return [d("header", ["Content-Type", "application/json"]), ...extraHeaders, d("respond", [JSON.stringify(body), String(status)])];
}

/**
 * Requests that announce a body larger than Synapse's upload limit get Synapse's own 413
 * (M_TOO_LARGE) at once, before any of the body is sent. Caddy 2.6 answers 502 when a
 * proxied body outgrows `request_body`, so that stays only as the backstop for bodies that
 * do not announce their length.
 */
function tooLarge(maxUploadMb: number): Directive[] {
  const limit = maxUploadMb * 1024 * 1024;
  const length = "{http.request.header.Content-Length}";
  return [
    d("@too_large", ["expression", `${length}.matches('^[0-9]{1,15}$') && int(${length}) > ${limit}`]),
    d("handle", ["@too_large"], jsonResponse({ errcode: "M_TOO_LARGE", error: `Larger than the ${maxUploadMb} MB upload limit` }, [], 413)),
  ];
}

/** How long Caddy retries Synapse while it is not listening. */
const SYNAPSE_RESTART_GRACE = "15s";

/**
 * While Synapse restarts (a config change applied in place), hold requests and retry instead of
 * answering 502: clients and other servers see a slow answer, not an error (a federating server
 * backs off from errors for minutes).
 */
const RETRY_WHILE_RESTARTING = [d("lb_try_duration", [SYNAPSE_RESTART_GRACE]), d("lb_try_interval", ["250ms"])];

/** Proxy the given paths to Synapse (its workers' routes first, when it has workers) and answer 404 for everything else. */
function synapseOnly(paths: string[], maxUploadMb: number, upstream: string, workers?: WorkerRouting): Directive[] {
  return [
    ...tooLarge(maxUploadMb),
    d("@synapse", ["path", ...paths]),
    d("handle", ["@synapse"], [
      // The same limit as Synapse's max_upload_size (both in MiB).
      d("request_body", [], [d("max_size", [`${maxUploadMb}MiB`])]),
      ...(workers ? [d("route", [], [...workerRoutes(workers.topology, workers.socketDir, RETRY_WHILE_RESTARTING)])] : []),
      d("reverse_proxy", [upstream], RETRY_WHILE_RESTARTING),
    ]),
    d("handle", [], [d("respond", ["404"])]),
  ];
}

/** Synapse's workers, when it has them: the plan and the directory of their sockets. */
export interface WorkerRouting {
  topology: Topology;
  socketDir: string;
}

/** On every HTTPS response: HSTS, and no Server header (Caddy's or, proxied, Synapse's with its version). */
const TRANSPORT_HEADERS: Directive[] = [
  d("Strict-Transport-Security", ["max-age=31536000"]),
  d("-Server"),
];

/** What browsers get from the hosts they open (Element, the matrix host, the apex). */
const SECURITY_HEADERS: Directive = d("header", [], [
  ...TRANSPORT_HEADERS,
  d("X-Frame-Options", ["SAMEORIGIN"]),
  d("X-Content-Type-Options", ["nosniff"]),
  d("Content-Security-Policy", ["frame-ancestors 'self'"]),
  d("Referrer-Policy", ["strict-origin-when-cross-origin"]),
]);

/**
 * Errors (a file Element does not have, a path nobody serves) are answered outside the site's
 * handlers, so their headers are set again here.
 */
const ERROR_RESPONSE: Directive = d("handle_errors", [], [SECURITY_HEADERS, d("respond", ["{err.status_code}", "{err.status_code}"])]);

/**
 * A request for a host this server does not serve (a trailing dot, `localhost`, no Host at all,
 * a host on the wrong port) gets 421 Misdirected Request, with the headers every answer has:
 * without these, Caddy answers an empty 200 with its Server header.
 */
const MISDIRECTED: Directive[] = [SECURITY_HEADERS, d("respond", ["421"]), ERROR_RESPONSE];

/**
 * Port 80: our hosts are redirected to HTTPS, as Caddy would by itself, but without its Server
 * header; other hosts are refused. Caddy answers Let's Encrypt's HTTP-01 challenges before any
 * of this.
 */
function plainHttpSites(hosts: string[]): SiteBlock[] {
  const noServer = d("header", [], [d("-Server")]);
  return [
    { addresses: hosts.map((host) => `http://${host}`), directives: [noServer, d("redir", ["https://{host}{uri}", "308"])] },
    { addresses: ["http://"], directives: [noServer, d("respond", ["421"])] },
  ];
}

export function caddyfile(settings: Settings, site: CaddySite = DROPLET_CADDY_SITE, workers?: WorkerRouting): Caddyfile {
  const { serverName, matrixHost, elementHost } = settings;
  const clientPaths = ["/_matrix/*", "/_synapse/client/*"];

  const sites: SiteBlock[] = [
    { addresses: [matrixHost], directives: [SECURITY_HEADERS, ...synapseOnly(clientPaths, settings.synapse.maxUploadMb, site.synapseUpstream, workers), ERROR_RESPONSE] },
    {
      // The apex certificate on 8448 serves SRV-delegated federation (the SRV target must
      // present a certificate for the server name); the matrix host on 8448 serves servers
      // that connect to it directly.
      addresses: [`${serverName}:${FEDERATION_PORT}`, `${matrixHost}:${FEDERATION_PORT}`],
      directives: [d("header", [], TRANSPORT_HEADERS), ...synapseOnly(["/_matrix/*"], settings.synapse.maxUploadMb, site.synapseUpstream, workers), ERROR_RESPONSE],
    },
    {
      addresses: [serverName],
      directives: [
        SECURITY_HEADERS,
        d("handle", ["/.well-known/matrix/server"], jsonResponse(wellKnownServer(settings))),
        d("handle", ["/.well-known/matrix/client"],
          jsonResponse(wellKnownClient(settings), [d("header", ["Access-Control-Allow-Origin", "*"])])),
        d("handle", [], [d("redir", [`https://${elementHost}{uri}`, "302"])]),
        ERROR_RESPONSE,
      ],
    },
    {
      addresses: [elementHost],
      directives: [
        SECURITY_HEADERS,
        d("root", ["*", site.elementRoot]),
        // Element's docs: never cache the entry point, its config or translations.
        d("@nocache", ["path", "/", "/index.html", "/config*.json", "/i18n/*", "/version"]),
        d("header", ["@nocache", "Cache-Control", "no-cache"]),
        d("file_server"),
        ERROR_RESPONSE,
      ],
    },
  ];
  if (settings.matrixRtc) {
    // The authorization service's routes, and LiveKit's signalling (a WebSocket) and server API.
    sites.push({
      addresses: [settings.matrixRtc.host],
      directives: [
        d("header", [], TRANSPORT_HEADERS),
        d("@auth", ["path", ...RTC_AUTH_PATHS]),
        d("handle", ["@auth"], [d("reverse_proxy", [`127.0.0.1:${RTC_AUTH_PORT}`])]),
        d("handle", [], [d("reverse_proxy", [`127.0.0.1:${LIVEKIT_PORT}`])]),
        ERROR_RESPONSE,
      ],
    });
  }
  if (settings.turn) {
    // Only so Caddy obtains (and renews) the certificate coturn serves on its TLS port.
    sites.push({ addresses: [settings.turn.host], directives: [SECURITY_HEADERS, d("respond", ["404"]), ERROR_RESPONSE] });
  }
  const hosts = sites.flatMap((site) => site.addresses).filter((address) => !address.includes(":"));
  sites.push(
    // Last: Caddy tries sites with hosts first.
    { addresses: ["https://", `https://:${FEDERATION_PORT}`], directives: MISDIRECTED },
    ...plainHttpSites(hosts),
  );

  const issuer =
    settings.acme.directoryUrl === "internal"
      ? [d("local_certs"), d("skip_install_trust")]
      : [d("acme_ca", [settings.acme.directoryUrl])];
  const global = [
    // Only through the socket (root and Caddy's account): it can rewrite the whole config.
    d("admin", [`unix/${site.adminSocket}`]),
    d("email", [settings.acme.email]),
    ...issuer,
    // HTTP/1.1 and HTTP/2 only. HTTP/3 needs UDP 443 through the cloud firewall, and Matrix
    // clients and servers gain little from it; advertised without it, browsers try it in vain.
    d("servers", [], [d("protocols", ["h1", "h2"])]),
  ];
  return { global, sites };
}

export function renderCaddyfile(settings: Settings, site: CaddySite = DROPLET_CADDY_SITE, workers?: WorkerRouting): string {
  return renderCaddyfileText(caddyfile(settings, site, workers));
}

/**
 * Caddy's very first start, while it has no ACME account, serves the matrix host alone, so it
 * registers one account; start-caddy.sh loads the whole Caddyfile once the account is stored.
 * Caddy 2.6 (Debian 13's) registers an account for every certificate it starts obtaining at
 * once and may store one account's key with another's registration: every later order is then
 * refused ("JWS verification error"), renewals included. Caddy 2.8 serializes registration.
 */
export function firstStartCaddyfile(settings: Settings, site: CaddySite = DROPLET_CADDY_SITE): Caddyfile {
  const { global, sites } = caddyfile(settings, site);
  return { global, sites: sites.filter((s) => s.addresses.includes(settings.matrixHost)) };
}

/** In /run while start-caddy.sh starts Caddy the first time: gone at the next boot whatever happens. */
export const CADDY_FIRST_START_RUNTIME_DROP_IN = `/run/systemd/system/${CADDY_SERVICE}.service.d/60-matrix-do-first-start.conf`;

/** The first-start Caddyfile, and the drop-in start-caddy.sh copies to /run to start Caddy with it. */
export function caddyFirstStartFiles(settings: Settings): RenderedFile[] {
  return [
    { path: PATHS.caddyfileFirstStart, content: renderCaddyfileText(firstStartCaddyfile(settings)), permissions: "0644" },
    {
      path: PATHS.caddyFirstStartDropIn,
      content: renderUnit({ Service: { ExecStart: ["", caddyRunCommand(PATHS.caddyfileFirstStart)] } }),
      permissions: "0644",
    },
  ];
}

/** How systemd runs Caddy with a Caddyfile. */
export function caddyRunCommand(config: string): string {
  return `/usr/bin/caddy run --environ --adapter caddyfile --config ${config}`;
}
