/**
 * A run caught in the middle of a command in its droplet, for test/interrupt.test.ts: boots a
 * bare local droplet on its own network, then runs commands in it in bursts, each deaf to Ctrl-C
 * for a while (as `runuser` is while its child finishes). An interrupt must neither strand a
 * command (nor this process waiting for it) nor leave the droplet running.
 *
 *   tsx test/droplet/busyDroplet.ts
 */
import * as crypto from "node:crypto";
import * as path from "node:path";
import { LocalDroplet } from "../../local/localDroplet";
import { LocalNetwork } from "../../local/network";
import { ensureRootfs } from "../../local/rootfs";
import { scratchDir } from "../../local/scratch";

async function main(): Promise<void> {
  const dir = scratchDir("matrix-busy-");
  const network = LocalNetwork.create();
  const address = network.addHost(1);
  const droplet = new LocalDroplet({
    name: "busy", rootfs: ensureRootfs(), workDir: path.join(dir, "roots"), network: address,
    resolvConf: network.resolvConf(address), userData: "#cloud-config\n{}\n", instanceId: `i-busy-${crypto.randomBytes(4).toString("hex")}`,
  });
  await droplet.boot();
  console.log("busy: commands run in the droplet");
  // Bursts of commands, as a test's steps run one after another after a Ctrl-C until the run's
  // handler stops them (it runs between bursts), each command deaf to the Ctrl-C while it lasts.
  for (;;) {
    try {
      for (let i = 0; i < 6; i++) droplet.exec(["sh", "-c", 'trap "" INT TERM; sleep 1']);
    } catch (error) {
      console.log(`busy: ${(error as Error).message}`);
      break;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 600_000));
}

void main();
