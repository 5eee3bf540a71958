/**
 * What a local droplet needs around it to boot the payload as it would on DigitalOcean: its
 * network with public-DNS-like names (SRV included), an ACME server (Pebble) signing its
 * certificates, and a signed Element release to download. Used by the droplet suite and by
 * the benchmark, each of which boots droplets into it.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { PlainArgs, resolveArgs } from "../components/settings";
import { Settings } from "../cloud-init/settings";
import { DEFAULT_ELEMENT_VERSION } from "../cloud-init/versions";
import { DropletAddress, LocalNetwork } from "./network";
import { DropletOptions, LocalDroplet } from "./localDroplet";
import { rootfsTarball } from "./rootfs";
import { hostCaCertificates } from "./secrets";
import { waitUntil } from "./process";
import { Reply, request } from "./https";
import { ElementMirror, startElementMirror } from "./elementMirror";
import { livekitReleaseTarball } from "./livekit";
import { ensureRtcAuthStandIn } from "./rtcAuthStandIn";
import { Pebble, startPebble } from "./pebble";
import { TestCa, createTestCa } from "./testCa";
import { VALID_ARGS } from "./exampleArgs";

/** The names a deployment puts in public DNS for `domain`. */
export function zoneOf(domain: string, ip: string): Record<string, string> {
  return { [domain]: ip, [`matrix.${domain}`]: ip, [`element.${domain}`]: ip, [`turn.${domain}`]: ip, [`rtc.${domain}`]: ip };
}

export function srvOf(domain: string): [string, string, number][] {
  return [
    [`_matrix-fed._tcp.${domain}`, `matrix.${domain}`, 8448],
    [`_matrix._tcp.${domain}`, `matrix.${domain}`, 8448],
  ];
}

export interface World {
  dir: string;
  network: LocalNetwork;
  /** Where the (first) droplet boots. */
  address: DropletAddress;
  /** A second address, for a second server, when asked for. */
  otherAddress?: DropletAddress;
  ca: TestCa;
  pebble: Pebble;
  /** Where droplets download Element from (its `available` makes an outage). */
  elementMirror: ElementMirror;
  /** Pebble's root: what a client trusts to reach the droplets. */
  trust: string;
  /** The args that differ from production, and nothing else: each a setting of the renderer. */
  testArgs: Partial<PlainArgs>;
  /** The SHA-256 of the authorization service's stand-in the mirror serves at testArgs.rtcAuthServiceUrl. */
  rtcAuthSha256: string;
  close(): Promise<void>;
}

/**
 * Start the network, DNS, Pebble and the Element mirror. With `otherServer`, example.test and
 * other.test each get an address; the second server's view of DNS sends example.test's apex
 * nowhere, so it can reach example.test only through SRV.
 */
export async function startWorld(dir: string, options: { otherServer?: boolean } = {}): Promise<World> {
  const network = LocalNetwork.create();
  const address = network.addHost(1);
  const otherAddress = options.otherServer ? network.addHost(2) : undefined;
  const everything = { ...zoneOf("example.test", address.ip), ...(otherAddress ? zoneOf("other.test", otherAddress.ip) : {}) };
  const srv = [...srvOf("example.test"), ...(otherAddress ? srvOf("other.test") : [])];
  const zones = ["example.test", ...(otherAddress ? ["other.test"] : [])];
  // An address of the test subnet that no droplet has: unreachable, refused on this machine.
  const unreachable = `${network.names.subnet}.250.250`;
  await network.serveDns(address, { zones, hosts: everything, srv });
  if (otherAddress) await network.serveDns(otherAddress, { zones, hosts: { ...everything, "example.test": unreachable }, srv });

  const ca = createTestCa(path.join(dir, "ca"));
  const pebble = await startPebble(path.join(dir, "pebble"), address.hostIp, address.hostIp, ca);
  const mirror: ElementMirror = await startElementMirror(path.join(dir, "element"), [DEFAULT_ELEMENT_VERSION], ca, address.hostIp, 8443);
  // Calls' downloads from the mirror too: the pinned LiveKit, built here and packed as LiveKit
  // packs its release, and the authorization service's stand-in, each under its own checksum.
  const livekit = mirror.publish("livekit.tar.gz", livekitReleaseTarball(dir));
  const rtcAuth = mirror.publish("lk-jwt-service", ensureRtcAuthStandIn());
  const testArgs: Partial<PlainArgs> = {
    privateFederationCidrs: [network.cidr], // the test network is private
    acmeServer: pebble.directoryUrl, // Pebble instead of Let's Encrypt
    // The test CA, Pebble's root, and this machine's registry proxy, if any.
    extraCaCertificates: [ca.certPem, pebble.issuingRoot, ...hostCaCertificates()],
    elementDownloadBase: mirror.base, // a test-signed Element release from this machine
    elementKeyUrl: mirror.keyUrl,
    elementKeyFingerprint: mirror.fingerprint,
    livekitUrl: livekit.url,
    livekitSha256: livekit.sha256,
    // Its SHA-256 is what a stack takes on its first deploy (rtcAuthSha256 below).
    rtcAuthServiceUrl: rtcAuth.url,
  };
  return {
    dir, network, address, otherAddress, ca, pebble, trust: pebble.issuingRoot, testArgs, elementMirror: mirror, rtcAuthSha256: rtcAuth.sha256,
    async close() {
      await mirror.close();
      await pebble.stop();
      await network.close();
    },
  };
}

/** Calls (MatrixRTC) on, with the authorization service's SHA-256 given as a user gives it (rtcAuthServiceSha256). */
export function matrixRtcArgs(world: World): Partial<PlainArgs> {
  return { matrixRtc: true, rtcAuthServiceSha256: world.rtcAuthSha256 };
}

/**
 * Settings for a droplet of this world: production's, with the world's test args and `extra`;
 * with calls on and no SHA-256 given for the authorization service, the one a stack's first
 * deploy takes from the world's mirror (components/downloadPin.ts).
 */
export function worldSettings(world: World, extra: Partial<PlainArgs> = {}): Settings {
  const { settings, cloud } = resolveArgs({ ...VALID_ARGS, ...world.testArgs, ...extra });
  if (!cloud.rtcAuthPin) return settings;
  const rtc = settings.matrixRtc!;
  return { ...settings, matrixRtc: { ...rtc, authService: { ...rtc.authService, sha256: world.rtcAuthSha256 } } };
}

/** HTTPS to a name of the test domain, at `ip`, trusting Pebble's root. */
export function httpsVia(world: World, ip: string) {
  return (url: string, options: Parameters<typeof request>[2] = {}): Promise<Reply> => request(url, world.trust, { address: ip, ...options });
}

export interface BootFigures {
  boot: number;
  cloudInit: number;
  https: number;
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

/**
 * Boot a droplet into the world at `address`, wait for cloud-init and for HTTPS on the
 * homeserver; returns the droplet and how long each stage took (s).
 */
export async function bootInto(
  world: World,
  settings: Settings,
  options: Omit<DropletOptions, "rootfs" | "resolvConf" | "network" | "instanceId"> & { address?: DropletAddress },
): Promise<{ droplet: LocalDroplet; figures: BootFigures }> {
  const address = options.address ?? world.address;
  const droplet = new LocalDroplet({
    ...options,
    rootfs: rootfsTarball(),
    instanceId: `i-${options.name}-${crypto.randomBytes(4).toString("hex")}`,
    resolvConf: world.network.resolvConf(address),
    network: address,
  });
  fs.mkdirSync(options.workDir, { recursive: true });
  const started = Date.now();
  try {
    await droplet.boot();
    const booted = Date.now();
    const status = await droplet.waitForCloudInit(25 * 60_000);
    const cloudInitDone = Date.now();
    if (![0, 2].includes(status.code)) throw new Error(`cloud-init failed (${status.code}):\n${status.stdout}\n${droplet.cloudInitOutput()}`);
    const https = httpsVia(world, address.ip);
    await waitUntil("HTTPS on the homeserver", 300, async () => (await https(`https://${settings.matrixHost}/_matrix/client/versions`)).status === 200);
    return { droplet, figures: { boot: seconds(booted - started), cloudInit: seconds(cloudInitDone - booted), https: seconds(Date.now() - cloudInitDone) } };
  } catch (error) {
    // The caller never gets this droplet, so nobody else can stop it: a running container
    // would hold the test process (and CI) open.
    if (!process.env.MATRIX_DO_KEEP_DROPLET) {
      await droplet.poweroff();
      droplet.destroy();
    }
    throw error;
  }
}
