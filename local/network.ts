/**
 * A private network for local droplets: each droplet gets its own network namespace joined to
 * this machine by a veth pair (host side 10.213.N.1, droplet 10.213.N.2), NAT to the outside
 * for apt and PyPI, and a DNS server (dnsmasq) that resolves the test domains — SRV records
 * included — and forwards every other name to this machine's resolver.
 *
 * Everything it changes on this machine (namespaces, links, one nftables table, ip_forward,
 * dnsmasq) is undone by close().
 */
import * as dns from "dns/promises";
import * as fs from "fs";
import { Service, run, startProcess, waitUntil } from "./process";

const SUBNET = "10.213";
const NAT_TABLE = "matrix_do_local";
const FORWARD_STATE = "/run/matrix-do-local.ip_forward";

export interface DropletAddress {
  netns: string;
  /** The droplet's network interface. */
  interface: string;
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

export class LocalNetwork {
  private readonly hosts: { netns: string; link: string }[] = [];
  private readonly dns = new Map<string, Service>();
  private readonly oldForward: string;

  private closed = false;

  constructor() {
    // The value before any test run changed it, kept in /run in case a run is killed.
    if (!fs.existsSync(FORWARD_STATE)) fs.writeFileSync(FORWARD_STATE, fs.readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8"));
    this.oldForward = fs.readFileSync(FORWARD_STATE, "utf8").trim();
    fs.writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
    process.on("exit", () => this.closeSync());
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
  }

  static create(): LocalNetwork {
    const net = new LocalNetwork();
    run("nft", ["delete", "table", "ip", NAT_TABLE]);
    const rules = `table ip ${NAT_TABLE} {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${SUBNET}.0.0/16 ip daddr != ${SUBNET}.0.0/16 masquerade
  }
}
`;
    const r = run("nft", ["-f", "-"], { input: rules });
    if (r.code !== 0) throw new Error(`nft: ${r.stderr}`);
    // An address of the subnet that no droplet has fails here at once, instead of being
    // routed out of this machine (droplets' routes are more specific and still win).
    run("ip", ["route", "delete", "unreachable", `${SUBNET}.0.0/16`]);
    must("ip", ["route", "add", "unreachable", `${SUBNET}.0.0/16`]);
    return net;
  }

  /** A network namespace for droplet number `index` (1–250). */
  addHost(index: number): DropletAddress {
    const netns = `matrix-do-${index}`;
    const host = `mdo${index}h`;
    const peer = `mdo${index}c`;
    const hostIp = `${SUBNET}.${index}.1`;
    const ip = `${SUBNET}.${index}.2`;
    run("ip", ["netns", "delete", netns]);
    run("ip", ["link", "delete", host]);
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
    return { netns, interface: peer, hostIp, ip };
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

  /** Undo every change; also run if the process is interrupted. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    for (const service of this.dns.values()) service.process.kill("SIGKILL");
    for (const { netns, link } of this.hosts) {
      run("ip", ["link", "delete", link]);
      run("ip", ["netns", "delete", netns]);
    }
    run("nft", ["delete", "table", "ip", NAT_TABLE]);
    run("ip", ["route", "delete", "unreachable", `${SUBNET}.0.0/16`]);
    fs.writeFileSync("/proc/sys/net/ipv4/ip_forward", this.oldForward);
    fs.rmSync(FORWARD_STATE, { force: true });
  }
}
