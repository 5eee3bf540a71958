/**
 * The real Pulumi CLI, for what only it knows: how Pulumi.yaml and a stack's config are
 * validated and merged (defaults, types, secrets). A user's `pulumi` on PATH, or the one
 * ../shared/pulumi-cli builds (the tests'), in an offline setup that touches no account.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { run } from "./process";

/** Build (once; cached in ~/.cache/pulumi-cli) the CLI of ../shared/pulumi-cli; returns its bin directory. */
export function buildSharedCli(projectRoot: string): string {
  const script = path.resolve(projectRoot, "..", "shared", "pulumi-cli", "build.sh");
  if (!fs.existsSync(script)) throw new Error(`the Pulumi CLI's build script is missing: ${script}`);
  const dest = path.join(os.homedir(), ".cache", "pulumi-cli");
  const r = run("bash", [script, dest]);
  if (r.code !== 0) throw new Error(`building the Pulumi CLI failed:\n${r.stdout}\n${r.stderr}`);
  return path.join(dest, "bin");
}

/** Environment for running the CLI with no network and no account: a local backend, a passphrase. */
export function offlineCliEnv(binDir: string, home: string, extraPath: string[] = []): NodeJS.ProcessEnv {
  fs.mkdirSync(path.join(home, "backend"), { recursive: true });
  return {
    ...process.env,
    PATH: [...extraPath, binDir, process.env.PATH ?? ""].join(":"),
    PULUMI_HOME: path.join(home, "pulumi-home"),
    PULUMI_BACKEND_URL: `file://${path.join(home, "backend")}`,
    PULUMI_CONFIG_PASSPHRASE: "local-test-passphrase",
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
  };
}

export interface StackConfigValue {
  value: string;
  secret: boolean;
}

/**
 * The stack's config as the CLI hands it to the program: Pulumi.yaml's defaults merged with
 * Pulumi.<stack>.yaml, secrets decrypted (they stay marked secret).
 */
/**
 * Under plain `sudo`, HOME is root's: the CLI finds neither the user's login (~/.pulumi) nor
 * PULUMI_CONFIG_PASSPHRASE. `sudo -E` keeps both.
 */
export function sudoHint(env: NodeJS.ProcessEnv): string {
  if (!env.SUDO_USER || env.SUDO_USER === "root") return "";
  const missing = [
    ...(env.HOME === "/root" ? ["HOME (your Pulumi login is in ~/.pulumi)"] : []),
    ...(!env.PULUMI_CONFIG_PASSPHRASE && !env.PULUMI_CONFIG_PASSPHRASE_FILE ? ["PULUMI_CONFIG_PASSPHRASE (if your stack has one)"] : []),
  ];
  return missing.length > 0 ? `\n(run under sudo as ${env.SUDO_USER} without ${missing.join(" and ")}: use \`sudo -E npm run local …\`, which keeps your environment)` : "";
}

export function cliStackConfig(projectDir: string, stack: string, env: NodeJS.ProcessEnv = process.env): Record<string, StackConfigValue> {
  const r = run("pulumi", ["config", "--json", "--show-secrets", "--stack", stack, "--cwd", projectDir], { env });
  if (r.code !== 0) throw new Error(`pulumi config --stack ${stack}: ${r.stderr.trim()}${sudoHint(env)}`);
  const parsed = JSON.parse(r.stdout) as Record<string, { value?: string; secret: boolean }>;
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, { value: v.value ?? "", secret: v.secret }]));
}
