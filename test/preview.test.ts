/**
 * The stack at `pulumi preview` (a first one: nothing exists yet). Providers then know no
 * computed output — ids, generated passwords, addresses — so every value derived from them is
 * unknown, and the engine hands each resource its inputs as serialized here. The command
 * provider refuses a secret whose value is unknown inside a list or map ("triggers[1]:
 * malformed secret: missing value"), which failed the first preview with sshPrivateKey set.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import type { MatrixServer as MatrixServerClass } from "../components";
import { VALID_ARGS } from "./fixtures";

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SIG = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Each registered resource's inputs, as serialized for the engine. */
const registered: { type: string; name: string; inputs: Record<string, unknown> }[] = [];

/** Paths of secrets whose value is unknown, found inside an input's lists and maps. */
export function nestedUnknownSecrets(inputs: Record<string, unknown>, at: string): string[] {
  return Object.entries(inputs).flatMap(([key, value]) => unknownSecrets(value, `${at}.${key}`, 0));
}

function unknownSecrets(value: unknown, at: string, depth: number): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => unknownSecrets(v, `${at}[${i}]`, depth + 1));
  if (value === null || typeof value !== "object") return [];
  const obj = value as Record<string, unknown>;
  if (obj[SIG] === SECRET_SIG) {
    const inner = obj.value;
    const unknown = inner === undefined || inner === UNKNOWN || JSON.stringify(inner).includes(UNKNOWN);
    return unknown && depth > 0 ? [at] : unknownSecrets(inner, at, depth);
  }
  return Object.entries(obj).flatMap(([k, v]) => unknownSecrets(v, `${at}.${k}`, depth + 1));
}

describe("a first `pulumi preview`", () => {
  let MatrixServer: typeof MatrixServerClass;

  before(async () => {
    await pulumi.runtime.setMocks(
      {
        // As at a first preview: a resource's outputs are its inputs; everything it computes is unknown.
        newResource: (args) => ({ id: UNKNOWN, state: { ...args.inputs } }),
        call: () => ({}),
      },
      "matrix-do",
      "preview",
      true,
    );
    const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource: (req: never, cb: never) => void };
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: never, cb: never) => {
      const r = req as { getType(): string; getName(): string; getObject(): { toJavaScript(): Record<string, unknown> } | undefined };
      registered.push({ type: r.getType(), name: r.getName(), inputs: r.getObject()?.toJavaScript() ?? {} });
      return original(req, cb);
    };
    ({ MatrixServer } = await import("../components"));
  });

  it("finds a secret with an unknown value inside a list (the check can fail)", () => {
    assert.deepEqual(nestedUnknownSecrets({ triggers: [UNKNOWN, { [SIG]: SECRET_SIG, value: UNKNOWN }] }, "x"), ["x.triggers[1]"]);
    assert.deepEqual(nestedUnknownSecrets({ stdin: { [SIG]: SECRET_SIG, value: UNKNOWN } }, "x"), []);
  });

  it("declares no secret whose value is unknown inside a list or map, with every feature on", async () => {
    new MatrixServer("matrix", {
      ...VALID_ARGS,
      sshPrivateKey: pulumi.secret("-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n"),
      smtpHost: "smtp.example.net", smtpUser: "matrix", smtpPassword: pulumi.secret("pw"),
      spacesBucket: "backups", spacesAccessKeyId: "DO00EXAMPLE", spacesSecretKey: pulumi.secret("sk"),
      turn: true, projectName: "Matrix",
    });
    // Resources register once their inputs are serialized: wait for the last of them.
    const deadline = Date.now() + 10_000;
    while (!registered.some((r) => r.type === "command:local:Command" && r.name.endsWith("-ready")) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const commands = registered.filter((r) => r.type.startsWith("command:"));
    // Local: the download pin and the readiness check; remote: the first-boot wait, the apply, the droplet's CA.
    assert.deepEqual(commands.map((c) => c.type).sort(), ["command:local:Command", "command:local:Command", "command:remote:Command", "command:remote:Command", "command:remote:Command"]);
    // Calls are on by default: the authorization service's SHA-256 is not taken yet, so the payload is unknown, and that is fine.
    const pin = commands.find((c) => c.name.endsWith("-rtc-auth-sha256"));
    assert.ok(pin, "the download pin is declared");
    const droplet = registered.find((r) => r.type === "digitalocean:index/droplet:Droplet")!;
    assert.ok(JSON.stringify(droplet.inputs.userData).includes(UNKNOWN), "the payload waits for the pin");
    const apply = commands.find((c) => c.name.endsWith("apply-config"))!;
    assert.ok(JSON.stringify(apply.inputs.triggers).includes(UNKNOWN), "the payload hash is unknown at a first preview");
    const bad = registered.flatMap((r) => nestedUnknownSecrets(r.inputs, `${r.type} ${r.name}`));
    assert.deepEqual(bad, []);
  });
});
