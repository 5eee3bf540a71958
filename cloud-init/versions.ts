/**
 * Every version the droplet installs, in one place.
 *
 * - Synapse: exact release, installed from PyPI with a hash-pinned lock per release
 *   (cloud-init/synapse/requirements-<version>.txt, made by scripts/lock-synapse.py).
 * - Element Web: exact release, tarball verified against Element's release key.
 * - Debian packages (PostgreSQL, Caddy, Python, jemalloc): pinned to the Debian release and
 *   PostgreSQL major. Debian's archive serves only the current point release of each package
 *   and we want its security fixes (unattended-upgrades is on), so an exact `=version` pin
 *   would break new droplets the day a fix lands.
 */
import * as fs from "fs";
import { asset } from "./assets";

/** The droplet image; the payload is written for this Debian release. */
export const DROPLET_IMAGE = "debian-13-x64";
export const DEBIAN_RELEASE = "trixie";
export const POSTGRESQL_MAJOR = 17;

/** Synapse releases we ship a lock for; the first is the default. */
export const SYNAPSE_VERSIONS = ["1.163.2", "1.162.0"] as const;
export const DEFAULT_SYNAPSE_VERSION: string = SYNAPSE_VERSIONS[0];

export const DEFAULT_ELEMENT_VERSION = "1.12.30";

/** Element's release signing key (primary key fingerprint); tarball signatures must chain to it. */
export const ELEMENT_RELEASE_KEY = {
  url: "https://packages.element.io/element-release-key.asc",
  fingerprint: "712BFBEE92DCA45252DB17D7C7BE97EFA179B100",
};
export const ELEMENT_DOWNLOAD_BASE = "https://github.com/element-hq/element-web/releases/download";

/** LiveKit, the SFU that carries MatrixRTC calls. */
export const LIVEKIT_VERSION = "1.13.5";
/**
 * Its release tarball. The SHA-256 is the one published for this asset; it could not be
 * checked here (no GitHub downloads from this machine), the tests install a build of the same
 * version from the Go module proxy under its own checksum.
 */
export const LIVEKIT_RELEASE = {
  url: `https://github.com/livekit/livekit/releases/download/v${LIVEKIT_VERSION}/livekit_${LIVEKIT_VERSION}_linux_amd64.tar.gz`,
  sha256: "c020fac437b7cc9b776eef1ad5ea8af77be9acfa07602eca20a3a44930dfbc70",
};

/** Element's MatrixRTC authorization service (lk-jwt-service): clients trade an OpenID token for a LiveKit token. */
export const RTC_AUTH_VERSION = "0.5.0";
/**
 * Its release binary. Its SHA-256 is not pinned here: Element publishes no checksum for it, and
 * no copy of it (GitHub, the Go module proxy, a registry) can be reached from where this project
 * is built and tested. So a stack takes it on its first deploy, from the machine that runs
 * `pulumi up`, and keeps it (components/downloadPin.ts), unless the user gives one
 * (rtcAuthServiceSha256). A verified one pinned here (`sha256`) goes before both.
 */
export const RTC_AUTH_RELEASE: { url: string; sha256?: string } = {
  url: `https://github.com/element-hq/lk-jwt-service/releases/download/v${RTC_AUTH_VERSION}/lk-jwt-service_linux_amd64`,
};

/** Debian packages the droplet installs (from the Debian release above). */
export const DEBIAN_PACKAGES = [
  `postgresql-${POSTGRESQL_MAJOR}`,
  "caddy",
  "python3",
  "python3-venv",
  "libjemalloc2",
  "gnupg",
  "curl",
  "ca-certificates",
  "nftables",
  "unattended-upgrades",
  "restic",
];

/** Installed only when TURN is on. */
export const TURN_PACKAGE = "coturn";

/** The packages a droplet with these settings installs. */
export function debianPackages(settings: { turn?: unknown }): string[] {
  return [...DEBIAN_PACKAGES, ...(settings.turn ? [TURN_PACKAGE] : [])];
}

export function synapseLockFile(version: string): string {
  return asset("cloud-init", "synapse", `requirements-${version}.txt`);
}

export function readSynapseLock(version: string): string {
  return fs.readFileSync(synapseLockFile(version), "utf8");
}
