/**
 * A private network for local droplets: each droplet gets its own network namespace joined to
 * this machine by a veth pair (host side 10.S.N.1, droplet 10.S.N.2), NAT to the outside for
 * apt and PyPI, and a DNS server (dnsmasq) that resolves the test domains — SRV records
 * included — and forwards every other name to this machine's resolver.
 *
 * Several runs may share this machine (two `npm run local`, the droplet suite, the benchmark):
 * each network takes a free slot S under /run/matrix-do-local, and its namespaces, links,
 * subnet (10.(200+S).0.0/16) and nftables table carry that number. A slot whose owner died is
 * cleaned up and taken again. Everything a network changes on this machine is undone by close(),
 * or at exit and on a signal (teardown.ts); ip_forward goes back when the last network closes.
 */
import * as dns from "dns/promises";
import * as fs from "fs";
import * as path from "path";
import { Service, run, startProcess, waitUntil } from "./process";
import { METADATA_IP } from "./metadata";
import { onTeardown } from "./teardown";

const SLOTS_DIR = "/run/matrix-do-local";
const SLOTS = 50;
/** Slot S's subnet is 10.(FIRST_SUBNET + S).0.0/16. */
const FIRST_SUBNET = 200;
/** Every namespace and link of a slot starts with this; its NAT table with NAT_TABLE_PREFIX. */
const NAME_PREFIX = "mdo";
const NAT_TABLE_PREFIX = "matrix_do_local_";
/** A local cloud's firewall table (local/cloud.ts) on this slot's network starts with this. */
const CLOUD_TABLE_PREFIX = "matrix_do_cloud_";
/** ip_forward as it was before the first network changed it; removed by the last. */
const FORWARD_STATE = path.join(SLOTS_DIR, "ip_forward");

export interface DropletAddress {
  netns: string;
  /** The droplet's network interface. */
  interface: string;
  /** This machine's end of the droplet's link. */
  hostInterface: string;
  hostIp: string;
  ip: string;
}

export interface DnsRecords {
  /** Zones answered here only (no forwarding): names not listed get no address. */
  zones: string[];
  /** Host name → IPv4 address. */
  hosts: Record<string, string>;
  /** SRV records: [name, target, port]. */
  srv: [string, string, number][];
}

function must(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** What slot `slot` names on this machine. */
export function slotNames(slot: number) {
  const subnet = `10.${FIRST_SUBNET + slot}`;
  return {
    subnet,
    cidr: `${subnet}.0.0/16`,
    /** This machine's address (on lo) where the slot's metadata service listens. */
    metadataAddress: `${subnet}.0.1`,
    natTable: `${NAT_TABLE_PREFIX}${slot}`,
    /** The firewall table of the local cloud whose droplets are host `host` of this network. */
    cloudTable: (host: number) => `${CLOUD_TABLE_PREFIX}${slot}_${host}`,
    /** The start of every cloud table name on this slot. */
    cloudTablePrefix: `${CLOUD_TABLE_PREFIX}${slot}_`,
    /** The start of every namespace and link name on this slot. */
    namePrefix: `${NAME_PREFIX}${slot}-`,
    netns: (index: number) => `${NAME_PREFIX}${slot}-${index}`,
    hostLink: (index: number) => `${NAME_PREFIX}${slot}-${index}h`,
    dropletLink: (index: number) => `${NAME_PREFIX}${slot}-${index}c`,
  };
}

/** How to recognise what any slot owns on this machine (for checks that nothing is left). */
export const SLOT_MARKS = {
  dir: SLOTS_DIR,
  namePrefix: NAME_PREFIX,
  natTablePrefix: NAT_TABLE_PREFIX,
  cloudTablePrefix: CLOUD_TABLE_PREFIX,
  /** Matches an address in any slot's subnet. */
  address: new RegExp(`\\b10\\.(${Array.from({ length: SLOTS }, (_, s) => FIRST_SUBNET + s).join("|")})\\.`),
};

/** A process with this pid runs (perhaps as another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Remove what a slot's network left on this machine (its owner died without closing it). */
function clearSlot(slot: number): void {
  const names = slotNames(slot);
  const prefix = names.namePrefix;
  for (const netns of run("ip", ["netns", "list"]).stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(prefix))) {
    // Processes still in it (a container, its dnsmasq) die with the slot.
    for (const pid of run("ip", ["netns", "pids", netns]).stdout.split(/\s+/).filter(Boolean)) run("kill", ["-KILL", pid]);
    run("ip", ["netns", "delete", netns]);
  }
  for (const link of run("ip", ["-o", "link", "show"]).stdout.split("\n").map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).filter((l): l is string => !!l?.startsWith(prefix))) {
    run("ip", ["link", "delete", link]);
  }
  unrouteSlot(names);
  // The firewall tables of local clouds on this network (theirs are named by slot, too).
  for (const table of run("nft", ["list", "tables", "inet"]).stdout.split("\n").map((l) => l.trim().split(" ")[2]).filter((t) => t?.startsWith(names.cloudTablePrefix))) {
    run("nft", ["delete", "table", "inet", table]);
  }
}

/** Undo the slot's NAT table, its unreachable route and its metadata address on lo. */
function unrouteSlot(names: ReturnType<typeof slotNames>): void {
  run("nft", ["delete", "table", "ip", names.natTable]);
  run("ip", ["route", "delete", "unreachable", names.cidr]);
  run("ip", ["addr", "delete", `${names.metadataAddress}/32`, "dev", "lo"]);
}

/** The slot's directory exists and its owner is gone (a run killed outright). */
function abandoned(slot: number): boolean {
  const dir = path.join(SLOTS_DIR, `slot-${slot}`);
  if (!fs.existsSync(dir)) return false;
  const owner = path.join(dir, "pid");
  const pid = Number(fs.existsSync(owner) ? fs.readFileSync(owner, "utf8") : 0);
  // Taken, or being taken this instant (no pid yet, and the directory is new).
  return !(pid === 0 ? Date.now() - fs.statSync(dir).mtimeMs < 10_000 : alive(pid));
}

/** Take a free slot (mkdir is atomic: two runs never take the same one). */
function claimSlot(): number {
  fs.mkdirSync(SLOTS_DIR, { recursive: true });
  for (let slot = 0; slot < SLOTS; slot++) {
    const dir = path.join(SLOTS_DIR, `slot-${slot}`);
    const owner = path.join(dir, "pid");
    try {
      fs.mkdirSync(dir);
    } catch {
      if (!abandoned(slot)) continue;
      clearSlot(slot);
    }
    fs.writeFileSync(owner, String(process.pid));
    return slot;
  }
  throw new Error(`all ${SLOTS} local network slots in ${SLOTS_DIR} are taken by running processes`);
}

/**
 * Clear every slot whose run is gone (what it left: namespaces, links, tables, its containers),
 * and give ip_forward back once no slot is left. Checks of what a run leaves call it first.
 */
export function sweepAbandonedSlots(): void {
  for (let slot = 0; slot < SLOTS; slot++) {
    if (!abandoned(slot)) continue;
    clearSlot(slot);
    releaseSlot(slot);
  }
}

function releaseSlot(slot: number): void {
  fs.rmSync(path.join(SLOTS_DIR, `slot-${slot}`), { recursive: true, force: true });
  const others = fs.readdirSync(SLOTS_DIR).some((name) => name.startsWith("slot-"));
  if (!others && fs.existsSync(FORWARD_STATE)) {
    fs.writeFileSync("/proc/sys/net/ipv4/ip_forward", fs.readFileSync(FORWARD_STATE, "utf8").trim());
    fs.rmSync(FORWARD_STATE, { force: true });
  }
}

export class LocalNetwork {
  private readonly hosts: { netns: string; link: string }[] = [];
  private readonly dns = new Map<string, Service>();
  private readonly untrack: () => void;
  private closed = false;
  /** This network's slot, and the names it owns on this machine. */
  readonly slot: number;
  readonly names: ReturnType<typeof slotNames>;

  private constructor() {
    this.slot = claimSlot();
    this.names = slotNames(this.slot);
    // The value before any local network changed it, kept in /run in case a run is killed.
    if (!fs.existsSync(FORWARD_STATE)) fs.writeFileSync(FORWARD_STATE, fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8"));
    fs.writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
    this.untrack = onTeardown({ what: `local network ${this.names.cidr}`, now: () => this.closeSync() });
  }

  /** Where this network's metadata service listens (an address on lo); droplets reach it as 169.254.169.254. */
  get metadataAddress(): string {
    return this.names.metadataAddress;
  }

  /**
   * Send what droplets ask 169.254.169.254:80 to this network's metadata service, listening on
   * `port` at metadataAddress: a port the kernel picked, so it never wants port 80 of this
   * machine, which Caddy in the services test (or anything else) may hold.
   */
  routeMetadata(port: number): void {
    const { natTable, cidr } = this.names;
    must("nft", ["add", "rule", "ip", natTable, "prerouting", "ip", "saddr", cidr, "ip", "daddr", METADATA_IP, "tcp", "dport", "80",
      "dnat", "to", `${this.names.metadataAddress}:${port}`]);
  }

  /** The private range every address of this network is in (for settings that must allow it). */
  get cidr(): string {
    return this.names.cidr;
  }

  static create(): LocalNetwork {
    const net = new LocalNetwork();
    const { natTable, cidr } = net.names;
    // Droplets ask 169.254.169.254 for their metadata, as on DigitalOcean; this network's
    // metadata service (metadata.ts) answers at its own address on this machine (routeMetadata).
    const rules = `table ip ${natTable} {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${cidr} ip daddr != ${cidr} masquerade
  }
}
`;
    const r = run("nft", ["-f", "-"], { input: rules });
    if (r.code !== 0) throw new Error(`nft: ${r.stderr}`);
    // An address of the subnet that no droplet has fails here at once, instead of being
    // routed out of this machine (droplets' routes are more specific and still win).
    must("ip", ["route", "add", "unreachable", cidr]);
    must("ip", ["addr", "add", `${net.metadataAddress}/32`, "dev", "lo"]);
    return net;
  }

  /** A network namespace for droplet number `index` (1–199; 200 and up are the local cloud's reserved IPs). */
  addHost(index: number): DropletAddress {
    const netns = this.names.netns(index);
    const host = this.names.hostLink(index);
    const peer = this.names.dropletLink(index);
    const hostIp = `${this.names.subnet}.${index}.1`;
    const ip = `${this.names.subnet}.${index}.2`;
    must("ip", ["netns", "add", netns]);
    this.hosts.push({ netns, link: host });
    must("ip", ["link", "add", host, "type", "veth", "peer", "name", peer]);
    must("ip", ["link", "set", peer, "netns", netns]);
    must("ip", ["addr", "add", `${hostIp}/24`, "dev", host]);
    must("ip", ["link", "set", host, "up"]);
    const inNs = (...args: string[]) => must("ip", ["netns", "exec", netns, ...args]);
    inNs("ip", "link", "set", "lo", "up");
    inNs("ip", "addr", "add", `${ip}/24`, "dev", peer);
    inNs("ip", "link", "set", peer, "up");
    inNs("ip", "route", "add", "default", "via", hostIp);
    return { netns, interface: peer, hostInterface: host, hostIp, ip };
  }

  /** The MAC address of the droplet's side of its link. */
  macOf(address: DropletAddress): string {
    const r = must("ip", ["-n", address.netns, "-json", "link", "show", address.interface]);
    return (JSON.parse(r) as { address: string }[])[0].address;
  }

  /**
   * Serve DNS to one droplet (on its host-side address) with these records; every other name
   * is forwarded to this machine's resolver. Each droplet can have its own view.
   */
  async serveDns(view: DropletAddress, records: DnsRecords): Promise<void> {
    await this.dns.get(view.hostIp)?.stop();
    const upstream = fs.readFileSync("/etc/resolv.conf", "utf8").match(/^nameserver\s+(\S+)/m)?.[1];
    if (!upstream) throw new Error("no nameserver in /etc/resolv.conf");
    const args = [
      "--keep-in-foreground", "--no-resolv", "--no-hosts", "--bind-interfaces", "--log-facility=-", "--pid-file=",
      `--server=${upstream}`, `--listen-address=${view.hostIp}`,
      // Answer the test zones here only (AAAA: no data) instead of forwarding.
      ...records.zones.map((zone) => `--local=/${zone}/`),
      ...Object.entries(records.hosts).map(([name, ip]) => `--host-record=${name},${ip}`),
      ...records.srv.map(([name, target, port]) => `--srv-host=${name},${target},${port},10,5`),
    ];
    const service = startProcess("dnsmasq", args);
    this.dns.set(view.hostIp, service);
    const resolver = new dns.Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([view.hostIp]);
    const [name, ip] = Object.entries(records.hosts)[0];
    await waitUntil("dnsmasq", 10, async () => (await resolver.resolve4(name)).includes(ip)).catch((error) => {
      throw new Error(`${error.message}\n${service.output()}`);
    });
  }

  /** resolv.conf content for a droplet or tool that should use our DNS. */
  resolvConf(address: DropletAddress): string {
    return `nameserver ${address.hostIp}\n`;
  }

  async close(): Promise<void> {
    for (const service of this.dns.values()) await service.stop();
    this.closeSync();
  }

  /** Undo every change; also run if the process is interrupted (teardown.ts). */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    this.untrack();
    for (const service of this.dns.values()) service.process.kill("SIGKILL");
    for (const { netns, link } of this.hosts) {
      run("ip", ["link", "delete", link]);
      run("ip", ["netns", "delete", netns]);
    }
    unrouteSlot(this.names);
    releaseSlot(this.slot);
  }
}
