/**
 * A local cloud: Pulumi's mocks, where creating a resource makes the local thing it stands for.
 * The real stack program (index.ts, or any program using MatrixServer) runs against it, so what
 * boots is exactly what the component declared:
 *
 * - Droplet: a local droplet (localDroplet.ts) booted with the declared `userData`, the public
 *   keys of the declared `sshKeys`, on its own address of the local network;
 * - SshKey: a key added to the account (options.sshKeys: those it had), by its MD5 fingerprint;
 * - Volume: an ext4 image that outlives droplets, attached as a block device after the
 *   droplet has booted (VolumeAttachment), so the payload waits for it and mounts it;
 * - ReservedIp + ReservedIpAssignment: an address routed (DNAT) to the droplet, as DigitalOcean
 *   routes a reserved IP to the droplet's anchor address;
 * - Domain + DnsRecord: the records the DNS server of the local network answers (A, SRV; the
 *   zone answers nothing else), which droplets, Pebble and clients resolve through;
 * - Firewall: its inbound and outbound rules enforced on the droplet's link (nftables);
 * - command:local:Command and command:remote:Command: run for real, the first on this machine,
 *   the second over SSH with the declared private key and the pinned host key;
 * - random and tls resources: fresh values, as their providers make them.
 *
 * DIFFERENCES lists where this is not DigitalOcean, and why.
 */
import * as childProcess from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { LocalDroplet } from "./localDroplet";
import { DropletMetadata, MetadataService } from "./metadata";
import { DnsRecords, DropletAddress, LocalNetwork } from "./network";
import { run } from "./process";
import { rootfsTarball } from "./rootfs";
import { onTeardown } from "./teardown";
import { newSshHostKey } from "./secrets";
import { md5Fingerprint, parsePublicKey } from "../components/sshKeys";

export const DIFFERENCES = [
  "cloud-init's DigitalOcean datasource reads user_data, hostname and SSH keys from the metadata service at 169.254.169.254 (metadata.ts), as on a droplet. It first recognizes a droplet by its VM's SMBIOS strings, which a container lacks, and it ignores DMI data in a container: for cloud-init's process alone, the local droplet answers dmidecode with a droplet's strings and does not look like a container (localDroplet.ts).",
  "cloud-init does not put a link-local address on the droplet's link (a veth, which it does not count as a NIC; use_ip4LL off) and does not render the metadata's interfaces: the local cloud sets the link's address and route itself.",
  "A volume is an image file on this machine, attached as a loop device whose node and /dev/disk/by-id link the harness makes in the droplet (containers run no udev), after the droplet has booted, as on DigitalOcean.",
  "Reserved IPs are DNAT to the droplet's address on this machine; DigitalOcean routes them to the droplet's anchor address. Traffic from the droplet to its own reserved IP is not routed back.",
  "DNS serves the declared A and SRV records (the zone answers nothing else); CAA records are validated against the API spec, not served, as the local ACME server does not check them. There is no IPv6, so no AAAA records.",
  "The firewall's rules are enforced by nftables on the droplet's link of this machine, for traffic from this machine and from other local droplets; IPv6 rules have nothing to act on.",
  "Local commands (the readiness check, the download pin) run with this machine's trust, as on the user's; the tests add the test CA their mirror's certificate is signed by (NODE_EXTRA_CA_CERTS). The readiness check trusts the local ACME server's root as it would a private ACME server's for a user: the stack's extraCaCertificates hold it.",
  "Monitoring alerts, uptime checks and projects are validated against DigitalOcean's API spec (test/openapi.test.ts) and recorded, not run.",
  "A droplet is replaced for a change of size, image or region alike (DigitalOcean resizes in place), and one droplet runs at a time per local cloud.",
];

const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG = "4dabf18193072939515e22adb298388d";

/** A resource input as the program declared it, secrets unwrapped. */
export function plain(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (obj[SIG] === SECRET_SIG) return plain(obj.value);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

const alnum = (length: number) => {
  const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(crypto.randomBytes(length), (b) => chars[b % chars.length]).join("");
};

/** Outputs of the random and tls providers, made as they make them. */
export function generatedOutputs(type: string, inputs: Record<string, unknown>): Record<string, unknown> | undefined {
  switch (type) {
    case "random:index/randomPassword:RandomPassword":
    case "random:index/randomString:RandomString":
      return { result: alnum(Number(inputs.length)) };
    case "random:index/randomBytes:RandomBytes": {
      const bytes = crypto.randomBytes(Number(inputs.length));
      return { base64: bytes.toString("base64"), hex: bytes.toString("hex") };
    }
    case "tls:index/privateKey:PrivateKey": {
      const key = newSshHostKey();
      return { privateKeyOpenssh: key.privateKey, publicKeyOpenssh: `${key.publicKey}\n` };
    }
  }
  return undefined;
}

export interface CloudOptions {
  network: LocalNetwork;
  /** Where the first droplet boots; the DNS view every name is served on. */
  address: DropletAddress;
  /** Scratch space: droplets' roots, volumes, SSH material. */
  dir: string;
  /** DigitalOcean SSH key fingerprint or ID → public key (the account's keys). */
  sshKeys: Record<string, string>;
  /** Where generated values (random, tls) are kept, so a later run of the same stack finds the same secrets (mode 0600). */
  stateFile?: string;
  /** Public DNS shared with other local clouds; without it, records are served at `address` alone. */
  dns?: PublicDns;
  /** Where local commands run (the program's directory). */
  cwd: string;
  /** The environment local commands run in, as on the user's machine; this process's when unset. */
  env?: NodeJS.ProcessEnv;
  memoryLimitMb?: number;
  /** The metadata service droplets reach at 169.254.169.254 (metadata.ts), where cloud-init reads their user_data. */
  metadata: MetadataService;
  log?: (line: string) => void;
}

export interface Realized {
  type: string;
  name: string;
  id: string;
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
  /** The options of its last registration, kept in the state as the engine keeps them (destroy reads them). */
  options?: ResourceOptions;
}

const key = (type: string, name: string) => `${type}::${name}`;
/** A resource's URN (urn:pulumi:STACK::PROJECT::PARENT-TYPE$TYPE::NAME) as a key. */
const urnKey = (urn: string) => {
  const [, , qualifiedType, ...name] = urn.split("::");
  return key(qualifiedType.split("$").at(-1)!, name.join("::"));
};

/** Inputs the provider changes in place; a change to any other input replaces the resource. */
const IN_PLACE: Record<string, string[]> = {
  "digitalocean:index/dnsRecord:DnsRecord": ["value", "ttl", "priority", "port", "weight", "flags", "tag"],
  "digitalocean:index/firewall:Firewall": ["name", "dropletIds", "inboundRules", "outboundRules", "tags"],
  "digitalocean:index/volume:Volume": ["size", "description", "tags"],
  "digitalocean:index/droplet:Droplet": ["size", "tags", "backups", "backupPolicy", "name", "monitoring"],
  "digitalocean:index/monitorAlert:MonitorAlert": ["description", "alerts", "entities", "enabled", "value", "window", "compare", "type"],
  "digitalocean:index/uptimeCheck:UptimeCheck": ["name", "target", "regions", "enabled", "type"],
  "digitalocean:index/uptimeAlert:UptimeAlert": ["name", "threshold", "comparison", "period", "notifications", "type"],
  "digitalocean:index/project:Project": ["name", "description", "purpose", "resources"],
  "digitalocean:index/sshKey:SshKey": ["name"],
};

/** The local network's number of a droplet address (10.S.N.2 → N). */
const hostNumber = (address: DropletAddress) => Number(address.ip.split(".")[2]);

/**
 * Public DNS for several local clouds: every cloud publishes its records here, and every view
 * (a droplet's DNS server) answers all of them — less the names a view is told to hide.
 */
export class PublicDns {
  private readonly published = new Map<string, DnsRecords>();
  private readonly views: { address: DropletAddress; hide: string[] }[] = [];
  private updates: Promise<void> = Promise.resolve();

  constructor(private readonly network: LocalNetwork) {}

  /** Serve every record at `address` (its host side), except the `hide` names' A records. */
  addView(address: DropletAddress, hide: string[] = []): void {
    this.views.push({ address, hide });
  }

  /** Replace what `owner` publishes, and serve the result in every view (one update at a time). */
  publish(owner: string, records: DnsRecords): Promise<void> {
    this.published.set(owner, records);
    this.updates = this.updates.catch(() => {}).then(async () => {
      const all = [...this.published.values()];
      for (const view of this.views) {
        const hosts = Object.fromEntries(all.flatMap((r) => Object.entries(r.hosts)).filter(([name]) => !view.hide.includes(name)));
        if (Object.keys(hosts).length === 0) continue;
        await this.network.serveDns(view.address, { zones: [...new Set(all.flatMap((r) => r.zones))], hosts, srv: all.flatMap((r) => r.srv) });
      }
    });
    return this.updates;
  }
}

/** Resource options the engine receives with a registration, as far as realizing it needs them. */
interface ResourceOptions {
  ignoreChanges: string[];
  deleteBeforeReplace: boolean;
  protect: boolean;
  /** What it depends on (dependsOn, its inputs' resources, its parent), as keys of registrations. */
  dependsOn: string[];
}

export class LocalCloud {
  /** The resources that exist, in the order they were created (the stack's state). */
  readonly resources: Realized[] = [];
  /** What the last deployment did to each resource it declared: create, update, replace or same. */
  readonly steps = new Map<string, "create" | "update" | "replace" | "same">();
  private readonly registered = new Map<string, ResourceOptions>();
  /** When the last deployment reached each milestone (ms since the epoch): deploy, droplet-create, droplet-booted, done. */
  readonly timeline: Record<string, number> = {};
  readonly droplets = new Map<string, LocalDroplet>();
  /** Output of each command run, by resource name. */
  readonly commandOutput = new Map<string, string>();
  private readonly pending = new Set<Promise<unknown>>();
  /** Ends the deployment under way: a step failed. */
  private fail?: (error: Error) => void;
  /** Resources whose creation failed, as the engine would report them. */
  readonly errors: Error[] = [];
  private readonly dnat: { ip: string; to: string }[] = [];
  private dnsUpdates: Promise<void> = Promise.resolve();
  /** Loop device of each volume attachment. */
  private readonly loops = new Map<string, string>();
  private readonly table: string;
  private readonly untrack: () => void;
  private nextId = 1000;
  private log: (line: string) => void;

  constructor(readonly options: CloudOptions) {
    this.log = options.log ?? (() => {});
    // Named by the network's slot: a run that dies without removing it leaves it to the slot's next owner.
    this.table = options.network.names.cloudTable(hostNumber(options.address));
    fs.mkdirSync(options.dir, { recursive: true });
    // Interrupted (Ctrl-C, a CI time limit): what this cloud set up on the machine goes too,
    // after its droplets (teardown.ts undoes the newest first).
    this.untrack = onTeardown({ what: `local cloud ${this.table}`, now: () => this.removeFromMachine() });
  }

  /** Loop devices, reserved IPs' routes and the firewall table: what this cloud adds to the machine. */
  private removeFromMachine(): void {
    for (const id of [...this.loops.keys()]) this.detachVolume(id);
    for (const { ip } of this.dnat) run("ip", ["route", "delete", `${ip}/32`]);
    run("nft", ["delete", "table", "inet", this.table]);
  }

  /**
   * `pulumi up` of a program against this cloud: run it in a stack (as the language host does),
   * create what is new, update or replace what changed, keep what did not, delete what it no
   * longer declares. Resolves with the stack's outputs once every step is done.
   */
  async deploy(program: () => unknown, project: string, stack: string): Promise<Record<string, unknown>> {
    this.steps.clear();
    this.registered.clear();
    this.errors.length = 0;
    for (const milestone of Object.keys(this.timeline)) delete this.timeline[milestone];
    this.timeline.deploy = Date.now();
    await pulumi.runtime.setMocks(this.mocks(), project, stack, false);
    this.captureOptions();
    // The program runs until its registrations are done, or until a step fails (then they never are).
    const failed = new Promise<never>((_, reject) => (this.fail = reject));
    failed.catch(() => {});
    const outputs = await Promise.race([pulumi.runtime.runInPulumiStack(async () => program()), failed.catch(() => undefined)]);
    await this.settled();
    for (const gone of [...this.resources].reverse().filter((r) => !this.steps.has(key(r.type, r.name)))) await this.remove(gone);
    for (const resource of this.resources) resource.options = this.registered.get(key(resource.type, resource.name)) ?? resource.options;
    this.timeline.done = Date.now();
    const resolved: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(outputs ?? {})) resolved[name] = await new Promise((r) => pulumi.output(value).apply(r));
    return resolved;
  }

  /** The options of each registration (ignoreChanges, deleteBeforeReplace, protect, what it depends on), as sent to the engine. */
  private captureOptions(): void {
    type Request = {
      getType(): string; getName(): string; getIgnorechangesList(): string[]; getDeletebeforereplace(): boolean; getProtect(): boolean | undefined;
      getDependenciesList(): string[]; getParent(): string;
    };
    const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource: (req: Request, cb: unknown) => unknown };
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => {
      this.registered.set(key(req.getType(), req.getName()), {
        ignoreChanges: req.getIgnorechangesList(), deleteBeforeReplace: req.getDeletebeforereplace(), protect: req.getProtect() === true,
        dependsOn: [...req.getDependenciesList(), ...(req.getParent() ? [req.getParent()] : [])].map(urnKey),
      });
      return original(req, cb);
    };
  }

  /**
   * `pulumi destroy`: every resource goes, newest first. With excludeProtected (the CLI's
   * --exclude-protected), the protected ones stay, and so does everything they depend on, as the
   * CLI excludes a protected resource's transitive dependencies with it. Protected resources
   * without it: an error, nothing deleted (as the engine refuses).
   */
  async destroy({ excludeProtected = false } = {}): Promise<void> {
    // From the state, as the CLI reads it: no program runs for a destroy.
    const state = new Map(this.resources.map((r) => [key(r.type, r.name), r.options]));
    const kept = new Set<string>();
    const keep = (k: string) => {
      if (kept.has(k)) return;
      kept.add(k);
      for (const dependency of state.get(k)?.dependsOn ?? []) keep(dependency);
    };
    for (const [k, options] of state) if (options?.protect) keep(k);
    if (!excludeProtected && kept.size > 0) {
      const names = this.resources.filter((r) => r.options?.protect).map((r) => r.name);
      throw new Error(`resources are protected: ${names.join(", ")} (destroy --exclude-protected keeps them)`);
    }
    this.steps.clear();
    for (const gone of [...this.resources].reverse().filter((r) => !kept.has(key(r.type, r.name)))) {
      this.log(`deleting ${gone.name}`);
      await this.remove(gone);
    }
  }

  /** The mocks to pass to pulumi.runtime.setMocks. */
  mocks() {
    return {
      newResource: (args: { type: string; name: string; inputs: Record<string, unknown> }) => {
        const work = this.create(args.type, args.name, plain(args.inputs) as Record<string, unknown>).catch((error: Error) => {
          this.errors.push(new Error(`creating ${args.type} ${args.name}: ${error.message}`));
          throw error;
        });
        this.pending.add(work);
        void work.finally(() => this.pending.delete(work)).catch(() => {});
        // As the engine does, the deployment stops at a failed step, which is its error: what waits
        // for that resource is not attempted (deploy() reports the error), rather than failing in turn.
        return work.catch((error: Error) => {
          this.fail?.(error);
          return new Promise<never>(() => {});
        });
      },
      call: () => {
        throw new Error("the stack makes no provider calls");
      },
    };
  }

  /** Resolves once no resource is being created (the deployment is done); throws if one failed. */
  async settled(): Promise<void> {
    for (let quiet = 0; quiet < 10; ) {
      if (this.pending.size > 0) {
        quiet = 0;
        await Promise.allSettled([...this.pending]);
      } else quiet += 1;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (this.errors.length > 0) throw new Error(this.errors.map((e) => e.message).join("\n"));
  }

  ofType(type: string): Realized[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** One registration: a new resource, or one that exists already (a later deployment). */
  private async create(type: string, name: string, inputs: Record<string, unknown>): Promise<{ id: string; state: Record<string, unknown> }> {
    const k = key(type, name);
    const existing = this.resources.find((r) => key(r.type, r.name) === k);
    if (!existing) {
      this.steps.set(k, "create");
      return this.createNew(type, name, inputs);
    }
    const ignored = this.registered.get(k)?.ignoreChanges ?? [];
    const changed = Object.keys({ ...existing.inputs, ...inputs })
      .filter((field) => !ignored.includes(field) && JSON.stringify(existing.inputs[field]) !== JSON.stringify(inputs[field]));
    if (changed.length === 0) {
      this.steps.set(k, "same");
      return { id: existing.id, state: existing.state };
    }
    if (IN_PLACE[type] && changed.every((field) => IN_PLACE[type].includes(field))) {
      this.steps.set(k, "update");
      existing.inputs = inputs;
      existing.state = { ...existing.state, ...inputs };
      if (type === "digitalocean:index/dnsRecord:DnsRecord") await this.serveDns();
      if (type === "digitalocean:index/firewall:Firewall") this.applyNft();
      return { id: existing.id, state: existing.state };
    }
    // Replaced: the old one goes first (deleteBeforeReplace, as the stack asks for droplets).
    this.steps.set(k, "replace");
    this.log(`replacing ${name} (${changed.join(", ")} changed)`);
    await this.remove(existing);
    return this.createNew(type, name, inputs);
  }

  /** Delete a resource: what it made locally goes (a volume's data stays, as a protected volume's would). */
  private async remove(resource: Realized): Promise<void> {
    // Protected by this deployment's registration, else by the state's (a resource the program no longer declares).
    const protect = this.registered.get(key(resource.type, resource.name))?.protect ?? resource.options?.protect;
    if (protect && !this.steps.has(key(resource.type, resource.name))) throw new Error(`${resource.name} is protected`);
    switch (resource.type) {
      case "digitalocean:index/droplet:Droplet": {
        const droplet = this.droplets.get(resource.id);
        // DigitalOcean's graceful shutdown, then the droplet and its disk are gone.
        await droplet?.poweroff();
        droplet?.destroy();
        this.droplets.delete(resource.id);
        this.options.metadata.forget(this.options.address.ip);
        break;
      }
      case "digitalocean:index/reservedIpAssignment:ReservedIpAssignment":
        this.unassignReservedIp(String(resource.inputs.ipAddress));
        break;
      case "digitalocean:index/volumeAttachment:VolumeAttachment":
        this.detachVolume(resource.id);
        break;
    }
    this.resources.splice(this.resources.indexOf(resource), 1);
    if (resource.type === "digitalocean:index/dnsRecord:DnsRecord") await this.serveDns();
    if (resource.type === "digitalocean:index/firewall:Firewall") this.applyNft();
  }

  /** Generated values of a resource: those kept from an earlier run with the same inputs, else new ones. */
  private generated(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> | undefined {
    const file = this.options.stateFile;
    const kept = file && fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, { inputs: string; outputs: Record<string, unknown> }>) : {};
    const k = key(type, name);
    if (kept[k]?.inputs === JSON.stringify(inputs)) return kept[k].outputs;
    const outputs = generatedOutputs(type, inputs);
    if (outputs && file) {
      kept[k] = { inputs: JSON.stringify(inputs), outputs };
      fs.writeFileSync(file, JSON.stringify(kept, null, 2), { mode: 0o600 });
    }
    return outputs;
  }

  private async createNew(type: string, name: string, inputs: Record<string, unknown>): Promise<{ id: string; state: Record<string, unknown> }> {
    const id = String(this.nextId++);
    const state: Record<string, unknown> = { ...inputs, ...(this.generated(type, name, inputs) ?? {}) };
    switch (type) {
      case "digitalocean:index/droplet:Droplet":
        Object.assign(state, await this.bootDroplet(id, inputs));
        break;
      case "digitalocean:index/volume:Volume":
        this.createVolume(String(inputs.name), Number(inputs.size), inputs.initialFilesystemType as string | undefined);
        state.volumeUrn = `do:volume:${id}`;
        break;
      case "digitalocean:index/volumeAttachment:VolumeAttachment":
        this.attachVolume(id, String(inputs.volumeId), String(inputs.dropletId));
        break;
      case "digitalocean:index/reservedIp:ReservedIp":
        // 10.S.(200 + N).x for the cloud of droplet address N: distinct across clouds.
        state.ipAddress = `${this.options.network.names.subnet}.${200 + hostNumber(this.options.address)}.${this.ofType(type).length + 1}`;
        state.reservedIpUrn = `do:floatingip:${state.ipAddress}`;
        break;
      case "digitalocean:index/reservedIpAssignment:ReservedIpAssignment":
        this.assignReservedIp(String(inputs.ipAddress), String(inputs.dropletId));
        break;
      case "digitalocean:index/domain:Domain":
        state.domainUrn = `do:domain:${inputs.name}`;
        break;
      case "digitalocean:index/sshKey:SshKey":
        state.fingerprint = this.addAccountKey(String(inputs.publicKey));
        break;
      case "digitalocean:index/dnsRecord:DnsRecord":
        state.fqdn = inputs.name === "@" ? inputs.domain : `${inputs.name}.${inputs.domain}`;
        break;
      case "digitalocean:index/firewall:Firewall":
        this.resources.push({ type, name, id, inputs, state });
        this.applyFirewalls();
        return { id, state };
      case "command:local:Command":
        state.stdout = await this.runLocal(name, inputs);
        break;
      case "command:remote:Command":
        state.stdout = await this.runRemote(name, inputs);
        break;
    }
    this.resources.push({ type, name, id, inputs, state });
    if (type === "digitalocean:index/dnsRecord:DnsRecord") await this.serveDns();
    return { id, state };
  }

  /** A volume: an image file, formatted when it is new (initialFilesystemType), kept across runs. */
  private volumeImage(name: string): string {
    return path.join(this.options.dir, "volumes", `${name}.img`);
  }

  private createVolume(name: string, sizeGb: number, filesystem?: string): void {
    const image = this.volumeImage(name);
    if (fs.existsSync(image)) return;
    fs.mkdirSync(path.dirname(image), { recursive: true });
    fs.writeFileSync(`${image}.partial`, "");
    fs.truncateSync(`${image}.partial`, sizeGb * 1024 ** 3);
    if (filesystem) {
      const r = run(`mkfs.${filesystem}`, ["-q", "-F", `${image}.partial`]);
      if (r.code !== 0) throw new Error(`local cloud: mkfs.${filesystem}: ${r.stderr}`);
    }
    fs.renameSync(`${image}.partial`, image);
  }

  /** The volume's image as a loop device, appearing in the running droplet as DigitalOcean names it. */
  private attachVolume(id: string, volumeId: string, dropletId: string): void {
    const volume = this.resources.find((r) => r.type === "digitalocean:index/volume:Volume" && r.id === volumeId);
    const droplet = this.droplets.get(dropletId);
    if (!volume || !droplet) throw new Error(`local cloud: no volume ${volumeId} or droplet ${dropletId} to attach`);
    const r = run("losetup", ["--find", "--show", this.volumeImage(String(volume.inputs.name))]);
    if (r.code !== 0) throw new Error(`local cloud: losetup: ${r.stderr}`);
    const device = r.stdout.trim();
    this.loops.set(id, device);
    droplet.attachBlockDevice(device, `/dev/disk/by-id/scsi-0DO_Volume_${volume.inputs.name}`);
  }

  private detachVolume(id: string): void {
    const device = this.loops.get(id);
    if (device) run("losetup", ["--detach", device]);
    this.loops.delete(id);
  }

  /** The account's SSH keys by fingerprint and ID: those it had (options.sshKeys) and those a stack added. */
  private accountKeys(): Record<string, string> {
    const added = this.ofType("digitalocean:index/sshKey:SshKey").flatMap((r) => [[String(r.state.fingerprint), String(r.inputs.publicKey)], [r.id, String(r.inputs.publicKey)]]);
    return { ...this.options.sshKeys, ...Object.fromEntries(added) };
  }

  /** An SshKey created: its fingerprint, or DigitalOcean's refusal of a key the account has already. */
  private addAccountKey(line: string): string {
    const key = parsePublicKey(line);
    if (typeof key === "string") throw new Error(`422 Key invalid, type not supported (expected ${key})`);
    const fingerprint = md5Fingerprint(key);
    const present = Object.values(this.accountKeys()).some((other) => {
      const parsed = parsePublicKey(other);
      return typeof parsed !== "string" && parsed.base64 === key.base64;
    });
    if (present) throw new Error("422 SSH Key is already in use on your account");
    return fingerprint;
  }

  private async bootDroplet(id: string, inputs: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.droplets.size > 0) throw new Error("the local cloud boots one droplet at a time");
    const keys = (inputs.sshKeys as string[]).map((k) => {
      const key = this.accountKeys()[k];
      if (!key) throw new Error(`sshKeys: no SSH key ${k} in this account`);
      return key;
    });
    const address = this.options.address;
    await this.serveDns();
    const droplet = new LocalDroplet({
      name: String(inputs.name),
      rootfs: rootfsTarball(),
      workDir: path.join(this.options.dir, "roots"),
      // user_data, hostname and keys come from the metadata service, set below.
      digitalOcean: { dropletId: Number(id) },
      resolvConf: this.options.network.resolvConf(address),
      network: address,
      memoryLimitMb: this.options.memoryLimitMb,
      log: this.log,
    });
    fs.mkdirSync(droplet.options.workDir, { recursive: true });
    this.options.metadata.set(address.ip, this.metadataOf(Number(id), address, inputs, keys));
    this.log(`droplet ${inputs.name} (${inputs.size}, ${inputs.image}) booting at ${address.ip}`);
    this.timeline["droplet-create"] = Date.now();
    // Known from the start, so that stopping the cloud mid-boot powers it off too.
    this.droplets.set(id, droplet);
    try {
      await droplet.boot();
    } catch (error) {
      this.droplets.delete(id);
      droplet.destroy();
      throw error;
    }
    this.timeline["droplet-booted"] = Date.now();
    return { ipv4Address: address.ip, ipv6Address: "", dropletUrn: `do:droplet:${id}`, status: "active" };
  }

  /** What DigitalOcean's metadata service tells the droplet about itself. */
  private metadataOf(id: number, address: DropletAddress, inputs: Record<string, unknown>, keys: string[]): DropletMetadata {
    return {
      droplet_id: id, hostname: String(inputs.name), user_data: String(inputs.userData), vendor_data: "", public_keys: keys,
      region: String(inputs.region),
      interfaces: { public: [{ ipv4: { ip_address: address.ip, netmask: "255.255.255.0", gateway: address.hostIp }, mac: this.options.network.macOf(address), type: "public" }] },
      reserved_ip: { ipv4: { active: false } },
      dns: { nameservers: [address.hostIp] },
      tags: (inputs.tags as string[] | undefined) ?? [],
      features: { dhcp_enabled: false },
    };
  }

  private dropletAddress(dropletId: string): string {
    if (!this.droplets.has(dropletId)) throw new Error(`no droplet ${dropletId}`);
    return this.options.address.ip;
  }

  private unassignReservedIp(ip: string): void {
    const at = this.dnat.findIndex((d) => d.ip === ip);
    if (at >= 0) this.dnat.splice(at, 1);
    run("ip", ["route", "delete", `${ip}/32`]);
    this.applyNft();
  }

  private assignReservedIp(ip: string, dropletId: string): void {
    const to = this.dropletAddress(dropletId);
    this.dnat.push({ ip, to });
    // Routed towards the droplet first (this subnet is otherwise unreachable here), then DNAT.
    const r = run("ip", ["route", "replace", `${ip}/32`, "via", to]);
    if (r.code !== 0) throw new Error(`local cloud: ip route: ${r.stderr}`);
    this.applyNft();
  }

  /** The names the declared records give, as the local DNS server answers them. */
  dnsRecords(): DnsRecords {
    const records = this.ofType("digitalocean:index/dnsRecord:DnsRecord").map((r) => r.inputs as Record<string, string | number>);
    const fqdn = (name: string, domain: string) => (name === "@" ? domain : `${name}.${domain}`);
    const hosts: Record<string, string> = {};
    for (const r of records.filter((r) => r.type === "A")) hosts[fqdn(String(r.name), String(r.domain))] = String(r.value);
    const srv = records.filter((r) => r.type === "SRV")
      .map((r) => [fqdn(String(r.name), String(r.domain)), String(r.value).replace(/\.$/, ""), Number(r.port)] as [string, string, number]);
    const zones = this.ofType("digitalocean:index/domain:Domain").map((d) => String(d.inputs.name));
    return { zones, hosts, srv };
  }

  /** Serve the records as they are now; one update at a time, so the last one always wins. */
  private serveDns(): Promise<void> {
    this.dnsUpdates = this.dnsUpdates.catch(() => {}).then(async () => {
      const records = this.dnsRecords();
      if (this.options.dns) await this.options.dns.publish(this.table, records);
      else if (Object.keys(records.hosts).length > 0) await this.options.network.serveDns(this.options.address, records);
    });
    return this.dnsUpdates;
  }

  /**
   * The declared firewalls, as nftables rules on the droplets' links: what reaches a droplet
   * (from this machine or another droplet) and what leaves it.
   */
  private applyFirewalls(): void {
    this.applyNft();
  }

  private applyNft(): void {
    const link = this.options.address.hostInterface;
    const lines: string[] = [`table inet ${this.table} {`];
    lines.push("  chain dnat_pre { type nat hook prerouting priority dstnat; policy accept;");
    for (const d of this.dnat) lines.push(`    ip daddr ${d.ip} dnat ip to ${d.to}`);
    lines.push("  }");
    lines.push("  chain dnat_out { type nat hook output priority -100; policy accept;");
    for (const d of this.dnat) lines.push(`    ip daddr ${d.ip} dnat ip to ${d.to}`);
    lines.push("  }");
    const firewall = this.ofType("digitalocean:index/firewall:Firewall")[0];
    if (firewall) {
      const inbound = firewall.inputs.inboundRules as FirewallRule[];
      const outbound = firewall.inputs.outboundRules as FirewallRule[];
      // In: to the droplet, through its link (forwarded or from this machine).
      const toDroplet = [`ct state established,related accept`, ...inbound.flatMap((r) => nftRule(r, "saddr", r.sourceAddresses ?? [])), "drop"];
      const fromDroplet = [`ct state established,related accept`, ...outbound.flatMap((r) => nftRule(r, "daddr", r.destinationAddresses ?? [])), "drop"];
      lines.push(`  chain fw_forward { type filter hook forward priority filter; policy accept;`);
      lines.push(`    oifname "${link}" jump to_droplet`, `    iifname "${link}" jump from_droplet`, "  }");
      lines.push(`  chain fw_output { type filter hook output priority filter; policy accept;`, `    oifname "${link}" jump to_droplet`, "  }");
      lines.push(`  chain fw_input { type filter hook input priority filter; policy accept;`, `    iifname "${link}" jump from_droplet`, "  }");
      lines.push("  chain to_droplet {", ...toDroplet.map((l) => `    ${l}`), "  }");
      lines.push("  chain from_droplet {", ...fromDroplet.map((l) => `    ${l}`), "  }");
    }
    lines.push("}");
    run("nft", ["delete", "table", "inet", this.table]);
    const r = run("nft", ["-f", "-"], { input: `${lines.join("\n")}\n` });
    if (r.code !== 0) throw new Error(`local cloud: nft: ${r.stderr}\n${lines.join("\n")}`);
  }

  private async runLocal(name: string, inputs: Record<string, unknown>): Promise<string> {
    const env = { ...(this.options.env ?? process.env), ...(inputs.environment as Record<string, string> | undefined) };
    // As the provider runs it: its interpreter (default `sh -c`) with the command as the last argument.
    const [program, ...args] = (inputs.interpreter as string[] | undefined) ?? ["sh", "-c"];
    return this.spawn(name, program, [...args, String(inputs.create)], env, inputs.stdin as string | undefined);
  }

  /**
   * As the command provider runs it: dial (TCP, SSH handshake with the pinned host key, key
   * login) up to `dialErrorLimit` times, then the command with its stdin.
   */
  private async runRemote(name: string, inputs: Record<string, unknown>): Promise<string> {
    const c = inputs.connection as { host: string; user?: string; privateKey: string; hostKey?: string; port?: number; dialErrorLimit?: number };
    const dir = fs.mkdtempSync(path.join(this.options.dir, "ssh-"));
    // The CLI stores a key read from stdin without its last newline; the provider's Go parser
    // takes it either way, OpenSSH only with it.
    fs.writeFileSync(path.join(dir, "key"), `${c.privateKey.trimEnd()}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, "known_hosts"), `${c.host} ${String(c.hostKey).trim()}\n`);
    const ssh = (command: string, stdin?: string, quiet = false) => this.spawn(quiet ? "" : name, "ssh", [
      "-i", path.join(dir, "key"), "-o", `UserKnownHostsFile=${path.join(dir, "known_hosts")}`, "-o", "StrictHostKeyChecking=yes",
      "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", "-p", String(c.port ?? 22), `${c.user ?? "root"}@${c.host}`, command,
    ], process.env, stdin);
    const limit = c.dialErrorLimit ?? 10;
    for (let attempt = 1; ; attempt++) {
      try {
        await ssh("true", undefined, true);
        break;
      } catch (error) {
        // A wrong host key is never retried: that is what pinning it is for.
        if (attempt >= limit || /Host key verification failed|REMOTE HOST IDENTIFICATION/.test(String(error))) throw error;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    return ssh(String(inputs.create), inputs.stdin as string | undefined);
  }

  private spawn(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const child = childProcess.spawn(cmd, args, { cwd: this.options.cwd, env, stdio: ["pipe", "pipe", "pipe"] });
      // Both, in order, for the log and errors; the command's state (stdout) gets its standard output alone, as the provider's does.
      let out = "";
      let stdout = "";
      child.stdout.on("data", (c) => { out += c; stdout += c; });
      child.stderr.on("data", (c) => (out += c));
      // A command may exit without reading its input (ssh that cannot connect yet): the write
      // then fails with EPIPE, which its exit code already reports.
      child.stdin.on("error", () => {});
      child.stdin.end(stdin ?? "");
      child.on("close", (code) => {
        if (!name) return code === 0 ? resolve(stdout) : reject(new Error(out));
        this.commandOutput.set(name, out);
        this.log(`${name}: exit ${code} after ${Math.round((Date.now() - started) / 100) / 10} s${code === 0 ? "" : `: ${out.trim().split("\n").slice(-3).join(" / ")}`}`);
        if (code === 0) resolve(stdout);
        else reject(new Error(`${name} failed (exit ${code}):\n${out}`));
      });
    });
  }

  /** Power every droplet off and undo the network changes (volumes stay). */
  async close(): Promise<void> {
    for (const droplet of this.droplets.values()) {
      await droplet.poweroff();
      droplet.destroy();
    }
    this.droplets.clear();
    this.removeFromMachine();
    this.untrack();
  }
}

interface FirewallRule {
  protocol: "tcp" | "udp" | "icmp";
  portRange?: string;
  sourceAddresses?: string[];
  destinationAddresses?: string[];
}

/** One firewall rule as nftables rules (IPv4 only: the local network has no IPv6). */
export function nftRule(rule: FirewallRule, direction: "saddr" | "daddr", cidrs: string[]): string[] {
  const v4 = cidrs.filter((c) => !c.includes(":"));
  if (v4.length === 0) return [];
  const addresses = v4.includes("0.0.0.0/0") ? "" : `ip ${direction} { ${v4.join(", ")} } `;
  if (rule.protocol === "icmp") return [`${addresses}meta l4proto icmp accept`];
  const range = rule.portRange === "all" || rule.portRange === "0" || rule.portRange === undefined ? "1-65535" : rule.portRange;
  return [`${addresses}${rule.protocol} dport ${range} accept`];
}
