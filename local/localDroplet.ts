/**
 * A local stand-in for a DigitalOcean droplet: a fresh Debian 13 root booted with systemd as
 * PID 1 under systemd-nspawn, with real cloud-init reading the user_data from DigitalOcean's
 * metadata service (the local cloud's, metadata.ts) or from a NoCloud seed. The data volume is a host directory
 * bind-mounted where the payload expects the DigitalOcean volume, so "replacing the droplet"
 * is: power off, fresh root, same volume directory.
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { run } from "./process";
import { onTeardown, runIsStopping } from "./teardown";
import { PATHS } from "../cloud-init/paths";
import { DropletAddress, alive } from "./network";

export interface DropletOptions {
  name: string;
  /** Pristine root filesystem tarball (rootfs.ts). */
  rootfs: string;
  /** Scratch directory for this droplet's root. */
  workDir: string;
  /**
   * Host directory standing in for the DigitalOcean volume, bind-mounted where the payload
   * mounts it. Unset: the volume comes as a block device (attachBlockDevice), as on DigitalOcean.
   */
  volumeDir?: string;
  /**
   * Where cloud-init reads its user_data, hostname and SSH keys: from a NoCloud seed in the root
   * (userData, instanceId, sshAuthorizedKeys), or, with `digitalOcean`, as on a droplet: from the
   * metadata service at 169.254.169.254 (metadata.ts) through cloud-init's DigitalOcean datasource.
   */
  userData?: string;
  /** A new id means a new droplet to cloud-init: it runs the first-boot modules again. */
  instanceId?: string;
  /** Public keys root may log in with (as DigitalOcean's metadata gives the droplet's sshKeys). */
  sshAuthorizedKeys?: string[];
  digitalOcean?: { dropletId: number };
  /** /etc/resolv.conf inside the droplet. */
  resolvConf: string;
  /** Where on the local network it boots (network.ts); the host's namespace when unset. */
  network?: DropletAddress;
  /**
   * The droplet size's RAM: the whole container (systemd, every service, page cache) is held
   * to it by a memory cgroup, and the kernel's OOM killer acts inside it as on a droplet.
   * The container may then also turn on a swap file (a droplet's own swap).
   */
  memoryLimitMb?: number;
  /**
   * The droplet size's vCPUs: the container runs on that many of this machine's cores (the last
   * ones). As many as the machine has is allowed: the container then shares them with the rest.
   */
  cpus?: number;
  log?: (line: string) => void;
}

/**
 * A cloud.cfg.d file. Its datasource_list is written on one line: ds-identify, which decides at
 * boot whether cloud-init runs at all, reads the list from that form only.
 */
function cloudCfg(config: { datasource_list: string[] } & Record<string, unknown>): string {
  const doc = new YAML.Document(config);
  (doc.get("datasource_list", true) as YAML.YAMLSeq).flow = true;
  return doc.toString();
}

export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

export class LocalDroplet {
  readonly root: string;
  private nspawn?: childProcess.ChildProcess;
  private console = "";
  /** Set from the poweroff request until the next start: no command may enter it (see exec). */
  private poweringOff = false;
  /** Commands running in it without blocking (execAsync). */
  private readonly asyncExecs = new Set<childProcess.ChildProcess>();
  leader = 0;
  bootedAt = 0;
  /** Set with memoryLimitMb: the cgroup the container runs in, for its figures. */
  memory?: MemoryCgroup;
  private cpuset?: CpusetCgroup;
  /** Unregisters this droplet from the run's teardown (teardown.ts) once it is destroyed. */
  private untrack?: () => void;

  constructor(readonly options: DropletOptions) {
    this.root = path.join(options.workDir, options.name);
  }

  /** Its systemd-nspawn has been started and has not exited. */
  get running(): boolean {
    return !!this.nspawn && this.nspawn.exitCode === null && this.nspawn.signalCode === null;
  }

  /** Unpack a fresh root, seed cloud-init, and boot it. Resolves once systemd (PID 1) runs. */
  async boot(): Promise<void> {
    const o = this.options;
    fs.rmSync(this.root, { recursive: true, force: true });
    fs.mkdirSync(this.root, { recursive: true });
    const untar = run("tar", ["-C", this.root, "-xf", o.rootfs]);
    if (untar.code !== 0) throw new Error(`untar failed: ${untar.stderr}`);
    this.prepareRoot();
    await this.start();
  }

  /** Boot the existing root again (a reboot: same disk, same instance). */
  async start(): Promise<void> {
    const o = this.options;
    if (runIsStopping()) throw new Error(`not starting droplet ${o.name}: the run is stopping`);
    if (o.volumeDir) fs.mkdirSync(o.volumeDir, { recursive: true });
    const nspawnArgs = [
      "-D", this.root, "-b", "--register=no", "--keep-unit", "--console=read-only", "--resolv-conf=off",
      // SIGTERM to nspawn is then a poweroff of the container (poweroff.target), as DigitalOcean's is.
      "--kill-signal=SIGRTMIN+4",
      `--machine=${o.name}`, `--hostname=${o.name}`, ...(o.volumeDir ? [`--bind=${o.volumeDir}:${PATHS.volume}`] : []),
      // In its own network namespace the droplet may manage its firewall, as a real one does.
      ...(o.network ? ["--capability=CAP_NET_ADMIN"] : []),
      // With a droplet's RAM it gets a droplet's swap too (swapon is filtered out by default).
      ...(o.memoryLimitMb ? ["--system-call-filter=@swap"] : []),
    ];
    let [cmd, args] = o.network
      ? // nsenter, not `ip netns exec`: that remounts /sys and hides the cgroup tree nspawn needs.
        ["nsenter", [`--net=/run/netns/${o.network.netns}`, "--", "systemd-nspawn", ...nspawnArgs]]
      : ["systemd-nspawn", nspawnArgs];
    if (o.memoryLimitMb) {
      this.memory ??= MemoryCgroup.create(cgroupName(o.name), o.memoryLimitMb);
      [cmd, args] = this.memory.wrap(cmd, args);
    }
    if (o.cpus) {
      this.cpuset ??= CpusetCgroup.create(cgroupName(o.name), o.cpus);
      [cmd, args] = this.cpuset.wrap(cmd, args);
    }
    this.console = "";
    this.bootedAt = Date.now();
    const child = childProcess.spawn(cmd, args, {
      env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      // Its own session and process group: a Ctrl-C meant for the run must not reach nspawn,
      // which would shut the container down by itself while a command runs in it (see exec).
      // Only this object powers it off; if the run is killed outright, the next run to take
      // its network slot ends it (network.ts, clearSlot).
      detached: true,
    });
    this.poweringOff = false;
    this.nspawn = child;
    // Commands still waiting in a container that is gone were stopped by its last act: end them.
    child.once("exit", () => {
      for (const exec of this.asyncExecs) exec.kill("SIGKILL");
    });
    const keep = (chunk: Buffer) => {
      this.console = (this.console + chunk.toString()).slice(-50000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    // Interrupted, the run powers this droplet off before anything it stands on (its network,
    // its volume's services) goes; exiting without time for that, it kills it.
    this.untrack ??= onTeardown({
      what: `droplet ${o.name}`,
      now: () => this.destroy(),
      gracefully: async () => {
        const started = Date.now();
        const clean = await this.poweroff(60_000);
        this.destroy();
        return `${clean ? "powered off cleanly" : "killed (no clean shutdown within 60 s)"} in ${Math.round((Date.now() - started) / 100) / 10} s, root removed`;
      },
    });
    this.leader = 0;
    try {
      this.leader = await this.findLeader(child);
    } catch (error) {
      this.kill();
      throw error;
    }
  }

  /**
   * Kill the container at once: its init (PID 1 of its PID namespace) and with it every process
   * in it, then systemd-nspawn. Killing nspawn alone would leave the container running.
   */
  kill(): void {
    const child = this.nspawn;
    const init = this.leader || (child?.pid ? descendants(child.pid).find((p) => comm(p) === "systemd") : undefined);
    if (init) run("kill", ["-KILL", String(init)]);
    if (this.running) child!.kill("SIGKILL");
    // Synchronous (an exiting process may not wait for events): until the init is gone.
    if (init) run("sh", ["-c", 'for _ in $(seq 100); do kill -0 "$0" 2>/dev/null || exit 0; sleep 0.1; done', String(init)]);
  }

  private prepareRoot(): void {
    const o = this.options;
    const write = (file: string, content: string, mode = 0o644) => {
      const full = path.join(this.root, file);
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.rmSync(full, { force: true });
      fs.writeFileSync(full, content, { mode });
    };
    // A true first boot: systemd generates the machine id, cloud-init sees a new instance.
    write("etc/machine-id", "uninitialized\n");
    if (o.digitalOcean) this.seedDigitalOcean(write, o.digitalOcean.dropletId);
    else {
      if (o.userData === undefined || o.instanceId === undefined) throw new Error("a local droplet needs userData and instanceId, or digitalOcean");
      write("etc/cloud/cloud.cfg.d/99-local-droplet.cfg", cloudCfg({
        datasource_list: ["NoCloud", "None"],
        network: { config: "disabled" },
      }));
      write("var/lib/cloud/seed/nocloud/user-data", o.userData, 0o600);
      write("var/lib/cloud/seed/nocloud/meta-data", YAML.stringify({
        "instance-id": o.instanceId, "local-hostname": o.name, ...(o.sshAuthorizedKeys ? { "public-keys": o.sshAuthorizedKeys } : {}),
      }));
    }
    write("etc/resolv.conf", o.resolvConf);
    if (o.network) {
      // The platform's network config, as DigitalOcean's image has it: the interface is up
      // with its address, so network-online.target is reached as on a droplet.
      write("etc/systemd/network/10-droplet.network", [
        "[Match]", `Name=${o.network.interface}`, "", "[Network]", `Address=${o.network.ip}/24`, `Gateway=${o.network.hostIp}`, "",
      ].join("\n"));
    }
  }

  /**
   * cloud-init finds a droplet as on DigitalOcean: its DigitalOcean datasource, which recognizes
   * a droplet by the SMBIOS strings of its VM (manufacturer "DigitalOcean", serial = droplet ID)
   * and then reads everything else from the metadata service. A container has no SMBIOS, and
   * cloud-init ignores DMI data when it detects a container. So, for cloud-init's process alone
   * (a drop-in on cloud-init-main.service), this droplet looks like the VM it stands for:
   * dmidecode answers the droplet's strings, systemd-detect-virt says "kvm", not a container,
   * and PID 1's environment (container=systemd-nspawn) reads empty (droplet-vm/as-vm.sh).
   * Nothing else in the droplet is changed. Differences from DigitalOcean: see DIFFERENCES in cloud.ts.
   */
  private seedDigitalOcean(write: (file: string, content: string, mode?: number) => void, dropletId: number): void {
    const vm = "usr/local/lib/local-droplet";
    for (const tool of ["dmidecode", "systemd-detect-virt", "as-vm"]) {
      write(`${vm}/bin/${tool}`, fs.readFileSync(path.join(__dirname, "droplet-vm", `${tool}.sh`), "utf8"), 0o755);
    }
    const smbios = { "system-manufacturer": "DigitalOcean", "system-product-name": "Droplet", "system-serial-number": String(dropletId) };
    for (const [key, value] of Object.entries(smbios)) write(`${vm}/smbios/${key}`, `${value}\n`);
    write(`${vm}/empty`, "");
    write("etc/systemd/system/cloud-init-main.service.d/50-local-droplet.conf", [
      "[Service]",
      `Environment=PATH=/${vm}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      // Not BindReadOnlyPaths=: that would give the unit a mount namespace whose mounts (the
      // payload's volume) no other process sees.
      "ExecStart=",
      `ExecStart=/${vm}/bin/as-vm /usr/bin/cloud-init --all-stages`,
      // Its output in the journal as a droplet's: under cloud-init's name, not the wrapper's.
      "SyslogIdentifier=cloud-init",
      "",
    ].join("\n"));
    write("etc/cloud/cloud.cfg.d/99-local-droplet.cfg", cloudCfg({
      // One datasource: ds-identify enables it without its own (container-blind) DMI check.
      datasource_list: ["DigitalOcean", "None"],
      // The droplet's link is a veth, which cloud-init does not count as a NIC to put a
      // link-local address on: the metadata service is reached through the default route.
      datasource: { DigitalOcean: { use_ip4LL: false } },
      // The local cloud sets the link's address itself; cloud-init does not render the
      // metadata's interfaces (DIFFERENCES in cloud.ts).
      network: { config: "disabled" },
    }));
  }

  private async findLeader(child: childProcess.ChildProcess): Promise<number> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`systemd-nspawn exited (${child.exitCode ?? child.signalCode}):\n${this.console}`);
      const pid = descendants(child.pid!).find((p) => comm(p) === "systemd");
      if (pid) return pid;
      await sleep(100);
    }
    throw new Error(`systemd did not start in the container:\n${this.console}`);
  }

  /**
   * A block device of this machine (a volume's loop device) appears in the running droplet at
   * `link`, as DigitalOcean's udev rule names an attached volume (/dev/disk/by-id/scsi-0DO_Volume_…).
   */
  attachBlockDevice(device: string, link: string): void {
    const rdev = fs.statSync(device).rdev;
    const major = (rdev >> 8) & 0xfff;
    const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    const node = `/dev/${path.basename(device)}`;
    const r = this.exec(["sh", "-c", 'mknod -m 0660 "$0" b "$1" "$2" && mkdir -p "$(dirname "$3")" && ln -sf "$0" "$3"', node, String(major), String(minor), link]);
    if (r.code !== 0) throw new Error(`attaching ${device} to ${this.options.name}: ${r.stderr}`);
  }

  /** A file inside the running droplet, as this machine sees it (mounts included). */
  file(inside: string): string {
    return path.join(`/proc/${this.leader}/root`, inside);
  }

  /**
   * Run a command inside the droplet (all its namespaces), as root. Not while it powers off:
   * the container's last act stops every process in it (SIGSTOP, then SIGKILL), and nsenter,
   * waiting outside for a command that stopped, stops itself too and never returns, which here
   * would block this process for good (an interrupted run could then never clean up).
   */
  exec(command: string[], input?: string): Exec {
    this.refuseUnlessUp(command);
    // Bounded all the same: a container shut down by something else (a service manager
    // signalling every process) would strand it as well.
    return run("nsenter", ["-t", String(this.leader), "-a", "--", ...command], { input, env: EXEC_ENV, timeoutMs: EXEC_TIMEOUT_MS });
  }

  /** Same, without blocking the event loop (for long waits). */
  execAsync(command: string[], timeoutMs: number): Promise<Exec> {
    this.refuseUnlessUp(command);
    return new Promise((resolve) => {
      const child = childProcess.spawn("nsenter", ["-t", String(this.leader), "-a", "--", ...command], { env: EXEC_ENV });
      this.asyncExecs.add(child);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c) => (stdout += c));
      child.stderr.on("data", (c) => (stderr += c));
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("close", (code) => {
        clearTimeout(timer);
        this.asyncExecs.delete(child);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  /** Not into a droplet powering off or off (its leader's pid may even be another process's by now). */
  private refuseUnlessUp(command: string[]): void {
    if (this.poweringOff || !this.running || !this.leader) {
      throw new Error(`droplet ${this.options.name} is ${this.poweringOff ? "powering off" : "not running"}: not running ${command.join(" ")}`);
    }
  }

  /** Wait until cloud-init has finished; returns its status exit code (0, or 2 for recoverable errors). */
  async waitForCloudInit(timeoutMs: number): Promise<Exec> {
    return this.execAsync(["cloud-init", "status", "--wait", "--long"], timeoutMs);
  }

  /** The first boot's log, for failure messages. */
  cloudInitOutput(lines = 120): string {
    const file = path.join(this.root, "var/log/cloud-init-output.log");
    if (!fs.existsSync(file)) return "(no cloud-init-output.log)";
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  }

  consoleOutput(): string {
    return this.console;
  }

  /**
   * Clean shutdown, as DigitalOcean's graceful shutdown does (poweroff.target); false if it had to
   * be killed. Asked of nspawn, not inside the container: that works while it still boots, twice
   * is harmless, and nothing enters a container that is going down.
   */
  async poweroff(timeoutMs = 90_000): Promise<boolean> {
    const child = this.nspawn;
    if (!child || !this.running) return true;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    this.poweringOff = true;
    child.kill("SIGTERM");
    const timedOut = await Promise.race([exited.then(() => false), sleep(timeoutMs).then(() => true)]);
    if (timedOut) {
      this.kill();
      await exited;
    }
    return !timedOut;
  }

  /** Remove the droplet's root (the volume directory stays). Powered off first, or killed. */
  destroy(): void {
    if (this.running) this.kill();
    this.untrack?.();
    this.untrack = undefined;
    // A swap file the container turned on is the host kernel's, listed by its path inside the
    // container: turn it off (by its path here) before deleting it.
    for (const file of activeSwapFiles().map((f) => path.join(this.root, f)).filter((f) => fs.existsSync(f))) run("swapoff", [file]);
    fs.rmSync(this.root, { recursive: true, force: true });
    this.memory?.remove();
    this.memory = undefined;
    this.cpuset?.remove();
    this.cpuset = undefined;
  }
}

/** The longest a command in a droplet may take (the longest, a restore, takes minutes). */
const EXEC_TIMEOUT_MS = 20 * 60_000;

/** A droplet's cgroup name, ending in the pid of the run that owns it. */
function cgroupName(droplet: string): string {
  return `${CGROUP_PREFIX}${droplet}-${process.pid}`;
}

/** The start of every cgroup name a local droplet gets. */
export const CGROUP_PREFIX = "matrix-do-";

/**
 * Remove the empty cgroups that runs which are gone left in `hierarchy` (a killed run cannot
 * remove its own): those named by cgroupName whose pid no longer runs.
 */
function sweepCgroups(hierarchy: string): void {
  if (!fs.existsSync(hierarchy)) return;
  for (const name of fs.readdirSync(hierarchy).filter((n) => n.startsWith(CGROUP_PREFIX))) {
    const pid = Number(/-(\d+)$/.exec(name)?.[1]);
    if (!pid || alive(pid)) continue;
    try {
      fs.rmdirSync(path.join(hierarchy, name));
    } catch {
      // still holds processes: not ours to end
    }
  }
}

/** A cgroup of one v1 controller that the container is started in. */
abstract class V1Cgroup {
  protected constructor(readonly dir: string) {}

  /** The command, started inside this cgroup. */
  wrap(cmd: string, args: string[]): [string, string[]] {
    return ["sh", ["-c", 'echo $$ > "$0" && exec "$@"', path.join(this.dir, "cgroup.procs"), cmd, ...args]];
  }

  /** Remove it once the container's last processes have left it (within 5 s). */
  remove(): void {
    // Synchronous: this also runs as an exiting process's last act.
    run("sh", ["-c", 'for _ in $(seq 50); do rmdir "$0" 2>/dev/null && exit 0; [ -d "$0" ] || exit 0; sleep 0.1; done', this.dir]);
  }
}

/** Remove the cgroups of every run that is gone (checks of what a run leaves call it first). */
export function sweepAbandonedCgroups(): void {
  sweepCgroups(MEMORY_HIERARCHY);
  sweepCgroups(CPUSET_HIERARCHY);
}

const MEMORY_HIERARCHY = "/sys/fs/cgroup/memory";

/**
 * A cgroup (v1 memory controller) holding the container at a droplet's RAM. Everything the
 * container starts inherits it; systemd inside manages only its own (unified) hierarchy.
 */
export class MemoryCgroup extends V1Cgroup {
  private constructor(dir: string, readonly limitMb: number) {
    super(dir);
  }

  static create(name: string, limitMb: number): MemoryCgroup {
    if (!fs.existsSync(path.join(MEMORY_HIERARCHY, "memory.limit_in_bytes"))) {
      throw new Error(`memoryLimitMb needs the cgroup v1 memory controller at ${MEMORY_HIERARCHY} (this host has none)`);
    }
    sweepCgroups(MEMORY_HIERARCHY);
    const dir = path.join(MEMORY_HIERARCHY, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "memory.limit_in_bytes"), String(limitMb * 1024 * 1024));
    return new MemoryCgroup(dir, limitMb);
  }

  private read(file: string): string {
    return fs.readFileSync(path.join(this.dir, file), "utf8");
  }

  /** Highest use so far (RAM, page cache and kernel memory charged to it), in MiB. */
  peakMb(): number {
    return Math.round(Number(this.read("memory.max_usage_in_bytes")) / 1024 / 1024);
  }

  /** Processes the OOM killer killed in it. */
  oomKills(): number {
    return Number(/^oom_kill (\d+)$/m.exec(this.read("memory.oom_control"))?.[1] ?? 0);
  }

  /** Swap in use by its processes now, in MiB. */
  swapMb(): number {
    return Math.round(Number(/^total_swap (\d+)$/m.exec(this.read("memory.stat"))?.[1] ?? 0) / 1024 / 1024);
  }

  /** Reset the peak, to measure one phase. */
  resetPeak(): void {
    fs.writeFileSync(path.join(this.dir, "memory.max_usage_in_bytes"), "0");
  }

}

const CPUSET_HIERARCHY = "/sys/fs/cgroup/cpuset";

/** A cgroup (v1 cpuset) pinning the container to the last `cpus` cores of this machine. */
class CpusetCgroup extends V1Cgroup {
  static create(name: string, cpus: number): CpusetCgroup {
    const cores = machineCores();
    if (cpus > cores.length) throw new Error(`cpus: this machine has ${cores.length} cores, fewer than a droplet of ${cpus}`);
    sweepCgroups(CPUSET_HIERARCHY);
    const dir = path.join(CPUSET_HIERARCHY, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "cpuset.cpus"), cores.slice(-cpus).join(","));
    fs.writeFileSync(path.join(dir, "cpuset.mems"), fs.readFileSync(path.join(CPUSET_HIERARCHY, "cpuset.mems"), "utf8").trim());
    return new CpusetCgroup(dir);
  }
}

/** This machine's cores, as the root cpuset lists them. */
export function machineCores(): number[] {
  const all = path.join(CPUSET_HIERARCHY, "cpuset.cpus");
  if (!fs.existsSync(all)) throw new Error(`cpus needs the cgroup v1 cpuset controller at ${CPUSET_HIERARCHY} (this host has none)`);
  return expandCpuList(fs.readFileSync(all, "utf8").trim());
}

/** "0-2,4" → [0, 1, 2, 4] */
export function expandCpuList(list: string): number[] {
  return list.split(",").filter(Boolean).flatMap((part) => {
    const [from, to] = part.split("-").map(Number);
    return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
  });
}

/**
 * Swap files and partitions in use on this host (/proc/swaps). Swap is the kernel's, not a
 * cgroup's: every droplet here can use any of them (the benchmark runs one at a time, on a host
 * without swap of its own).
 */
export function activeSwapFiles(): string[] {
  return fs.readFileSync("/proc/swaps", "utf8").split("\n").slice(1).map((l) => l.split(/\s+/)[0]).filter(Boolean);
}

/** The environment of commands run inside the droplet (not this process's). */
const EXEC_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** All descendant PIDs of a process (breadth first). */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of fs.readFileSync(`/proc/${p}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) {
          found.push(Number(c));
          queue.push(Number(c));
        }
      } catch {
        // task ended
      }
    }
  }
  return found;
}
