/**
 * A SHA-256 taken on the first deploy, for a release file nobody publishes a checksum for and
 * no copy of which can be reached where this project is built (lk-jwt-service): on the machine
 * that runs `pulumi up`, download-pin/take-sha256.mjs downloads it and prints its SHA-256, which
 * the stack keeps in its state (the command's stdout) and hands to the droplet, which checks its
 * own download against it as against every pinned one. So every droplet the stack creates gets
 * the file first seen, or none.
 *
 * Why a command.local.Command: its output is kept in the state and read back on every later
 * `pulumi up`; it runs only when its inputs change; it works wherever the component runs (also
 * behind another language's SDK, where a dynamic provider may not); and the local cloud runs it
 * as the provider does. Its environment holds the URL and the version (and the names its error
 * gives): the pin is taken again when either changes, never when this project's script does
 * (ignoreChanges).
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { asset } from "../cloud-init/assets";

const SCRIPT = path.join(asset("components", "download-pin"), "take-sha256.mjs");
const SHA256_RE = /^[0-9a-f]{64}$/;

export interface DownloadPinArgs {
  url: pulumi.Input<string>;
  /** The release's version: the pin is taken again when it changes, as when the URL does. */
  version: pulumi.Input<string>;
  /** The setting that gives a SHA-256 by hand, and the one that turns the part off ("key value"), for the error. */
  setting: string;
  without: string;
}

/** Declares the pin; its `sha256` is unknown until the first `pulumi up` has taken it. */
export function declareDownloadPin(name: string, args: DownloadPinArgs, opts: pulumi.CustomResourceOptions): { resource: pulumi.Resource; sha256: pulumi.Output<string> } {
  const taken = new command.local.Command(name, {
    interpreter: ["node", "--input-type=module", "-e"],
    create: fs.readFileSync(SCRIPT, "utf8"),
    environment: { MATRIX_DO_PIN_URL: args.url, MATRIX_DO_PIN_VERSION: args.version, MATRIX_DO_PIN_SETTING: args.setting, MATRIX_DO_PIN_WITHOUT: args.without },
  }, { ...opts, ignoreChanges: ["create", "interpreter"] });
  const sha256 = taken.stdout.apply((out: string | undefined) => {
    const sha = (out ?? "").trim();
    if (!SHA256_RE.test(sha)) throw new Error(`${name}: expected a SHA-256 from ${SCRIPT}, got ${JSON.stringify((out ?? "nothing").slice(0, 200))}`);
    return sha;
  });
  return { resource: taken, sha256 };
}
