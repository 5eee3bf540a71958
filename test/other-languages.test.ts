/**
 * MatrixServer from Python and Go, as `pulumi package add` makes it available:
 *  1. the schema, asked over gRPC of the plugin that Pulumi's Node.js runner (the SDK's
 *     cmd/run-plugin, what pulumi-language-nodejs starts) serves from this repository;
 *  2. the SDKs, generated from that schema by Pulumi's own Python and Go generators
 *     (test/sdk-gen: the functions the language hosts' GeneratePackage calls, which no
 *     registry here serves as plugins), bound as `package add` binds them;
 *  3. docs/library.md's Python and Go programs (README links there), unchanged, run against those SDKs under Pulumi's mocks
 *     (the Python SDK from PyPI, the Go SDK from the Go module proxy): what reaches the engine is
 *     one remote MatrixServer with the arguments they pass, its secret kept secret.
 */
import assert from "node:assert/strict";
import * as childProcess from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { createRequire } from "node:module";
import { go, gofmt, goBuildHere } from "../local/goBuild";
import { run } from "../local/process";
import { TEST_DEPLOY_KEY, scratchDir } from "./fixtures";
import { ROOT } from "./local-services";

// The gRPC library the SDK's generated services are built on (its dependency, not ours).
const grpc = createRequire(require.resolve("@pulumi/pulumi/package.json"))("@grpc/grpc-js") as typeof import("@grpc/grpc-js");

const TOKEN = "matrix-do:index:MatrixServer";
/** The Python SDK the documented program runs on (PyPI), and the Go SDK (Go module proxy): the newest each serves here. */
const PYTHON_SDK = "pulumi==3.272.0";
/** The type checker a Python user's editor runs, in its place: the SDK is typed (py.typed). */
const MYPY = "mypy==2.4.1";
const GO_SDK = "github.com/pulumi/pulumi/sdk/v3 v3.276.0";
/** Where `pulumi package add` puts the SDK in the user's project: sdks/<package name>. */
const SDK_DIR = path.join("sdks", "matrix-do");

/** Where README sends users of other languages: its programs are the ones these tests run. */
const LIBRARY_DOC = fs.readFileSync(path.join(ROOT, "docs", "library.md"), "utf8");
function readmeBlock(language: string): string {
  const blocks = [...LIBRARY_DOC.matchAll(new RegExp("^```" + language + "\\n([\\s\\S]*?)^```$", "gm"))].map((m) => m[1]);
  assert.equal(blocks.length, 1, `docs/library.md has one ${language} program`);
  return blocks[0];
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = run(cmd, args, { cwd, env, timeoutMs: 15 * 60_000 });
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} in ${cwd}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The plugin as the runner serves it: its port on stdout; then GetSchema over gRPC. */
async function schemaFromPlugin(): Promise<string> {
  const runner = path.join(ROOT, "node_modules", "@pulumi", "pulumi", "cmd", "run-plugin", "index.js");
  const plugin = childProcess.spawn(process.execPath, [runner, ROOT], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  plugin.stderr.on("data", (d: Buffer) => (err += d.toString()));
  try {
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the plugin printed no port in 180 s:\n${out}\n${err}`)), 180_000);
      plugin.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const line = out.match(/^(\d+)\n/);
        if (line) (clearTimeout(timer), resolve(line[1]));
      });
      plugin.once("exit", (code) => (clearTimeout(timer), reject(new Error(`the plugin exited (${code}):\n${out}\n${err}`))));
    });
    // The SDK's own generated gRPC stubs, as the engine's client speaks to a provider.
    const pb = require("@pulumi/pulumi/proto/provider_pb");
    const services = require("@pulumi/pulumi/proto/provider_grpc_pb");
    const client = new services.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      return await new Promise<string>((resolve, reject) =>
        client.getSchema(new pb.GetSchemaRequest(), (e: Error | null, r: { getSchema(): string }) => (e ? reject(e) : resolve(r.getSchema()))),
      );
    } finally {
      client.close();
    }
  } finally {
    plugin.kill("SIGKILL");
  }
}

/** What a program registered under the mocks (each language's harness writes this). */
interface Registered {
  type: string;
  name: string;
  remote?: boolean;
  custom?: boolean;
  inputs: Record<string, unknown>;
  secretInputs: string[];
}

const CONFIG = { sshPublicKey: TEST_DEPLOY_KEY.publicKey, sshPrivateKey: TEST_DEPLOY_KEY.privateKey };

/** The documented arguments, as the component receives them (the schema's names). */
function assertReadmeServer(registered: Registered[], language: string): Registered {
  const servers = registered.filter((r) => r.type === TOKEN);
  assert.equal(servers.length, 1, `${language}: one MatrixServer registered (saw ${registered.map((r) => r.type).join(", ")})`);
  const [server] = servers;
  assert.equal(server.name, "chat");
  assert.equal(server.custom ?? false, false, `${language}: a component, not a custom resource`);
  assert.deepEqual(
    { domain: server.inputs.domain, adminEmail: server.inputs.adminEmail, sshPublicKey: server.inputs.sshPublicKey, size: server.inputs.size, turn: server.inputs.turn },
    { domain: "example.org", adminEmail: "admin@example.org", sshPublicKey: CONFIG.sshPublicKey, size: "s-2vcpu-4gb", turn: true },
    `${language}: the documented arguments reach the component under the schema's names`,
  );
  assert.equal(server.inputs.sshPrivateKey, CONFIG.sshPrivateKey, `${language}: the private key from config`);
  assert.deepEqual(server.secretInputs, ["sshPrivateKey"], `${language}: the private key reaches the engine as a secret`);
  return server;
}

describe("MatrixServer from other Pulumi languages (pulumi package add)", { timeout: 30 * 60_000 }, () => {
  let dir: string;
  let generated: string;
  let schema: { name: string; resources: Record<string, { isComponent?: boolean }> };

  before(async () => {
    dir = scratchDir("other-languages-");
    const json = await schemaFromPlugin();
    schema = JSON.parse(json);
    fs.writeFileSync(path.join(dir, "schema.json"), json);
    generated = path.join(dir, "generated");
    sh(goBuildHere("test/sdk-gen", "sdk-gen"), [path.join(dir, "schema.json"), generated], ROOT);
  });

  it("the runner serves the schema: MatrixServer, a component of package matrix-do", () => {
    assert.equal(schema.name, "matrix-do");
    assert.equal(schema.resources[TOKEN]?.isComponent, true);
  });

  it("Python: the documented program type-checks against the generated SDK, runs, and declares the documented server, its key secret", () => {
    const project = path.join(dir, "python");
    fs.mkdirSync(project);
    fs.cpSync(path.join(generated, "python"), path.join(project, SDK_DIR), { recursive: true });
    fs.writeFileSync(path.join(project, "__main__.py"), readmeBlock("python"));
    // Pulumi's mocks in place of the engine, then the program as the runner runs it (its __main__.py).
    fs.writeFileSync(path.join(project, "run_with_mocks.py"), `
import json, runpy, sys
import pulumi

# How a secret reaches the engine: the value wrapped with Pulumi's secret signature.
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET = "1b47061264138c4ac30d75fd1eb44270"

class Mocks(pulumi.runtime.Mocks):
    registered = []
    def new_resource(self, args):
        secret = sorted(k for k, v in args.inputs.items() if isinstance(v, dict) and v.get(SECRET_SIG) == SECRET)
        inputs = {k: args.inputs[k]["value"] if k in secret else v for k, v in args.inputs.items()}
        self.registered.append({"type": args.typ, "name": args.name, "custom": args.custom, "inputs": inputs, "secretInputs": secret})
        return [args.name + "-id", {**args.inputs, "elementUrl": "https://element.example.org", "adminPassword": "x"}]
    def call(self, args):
        return {}

config = json.loads(sys.argv[1])
pulumi.runtime.set_all_config({"chat:" + k: v for k, v in config.items()}, ["chat:sshPrivateKey"])
pulumi.runtime.set_mocks(Mocks(), project="chat", stack="dev", preview=False)

@pulumi.runtime.test
def program():
    runpy.run_path("__main__.py", run_name="__main__")

program()
print(json.dumps(Mocks.registered))
`);
    sh("python3", ["-m", "venv", "venv"], project);
    sh(path.join(project, "venv", "bin", "pip"), ["install", "--quiet", "--disable-pip-version-check", PYTHON_SDK, MYPY, `./${SDK_DIR}`], project);
    sh(path.join(project, "venv", "bin", "mypy"), ["--strict", "__main__.py"], project);
    const out = sh(path.join(project, "venv", "bin", "python"), ["run_with_mocks.py", JSON.stringify(CONFIG)], project);
    assertReadmeServer(JSON.parse(out.trim().split("\n").at(-1)!), "Python");
  });

  it("Go: the documented program builds against the generated SDK and declares the documented server, remote, its key secret", () => {
    const project = path.join(dir, "go");
    fs.mkdirSync(project);
    fs.cpSync(path.join(generated, "go"), path.join(project, SDK_DIR), { recursive: true });
    const sdkModule = fs.readFileSync(path.join(project, SDK_DIR, "go.mod"), "utf8").match(/^module (\S+)$/m)![1];
    fs.writeFileSync(path.join(project, "main.go"), readmeBlock("go"));
    // As the Go language host links the SDK: a replace to its directory.
    fs.writeFileSync(path.join(project, "go.mod"), `module chat\n\ngo 1.26\n\nrequire ${GO_SDK}\n\nrequire ${sdkModule} v0.0.0\n\nreplace ${sdkModule} => ./${SDK_DIR}\n`);
    // Pulumi's Go mocks in place of the engine, around README's program function.
    fs.writeFileSync(path.join(project, "main_test.go"), `package main

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type registered struct {
	Type         string         \`json:"type"\`
	Name         string         \`json:"name"\`
	Remote       bool           \`json:"remote"\`
	Custom       bool           \`json:"custom"\`
	Inputs       map[string]any \`json:"inputs"\`
	SecretInputs []string       \`json:"secretInputs"\`
}

type mocks struct{ seen []registered }

func (m *mocks) NewResource(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := registered{Type: a.TypeToken, Name: a.Name, Custom: a.Custom, SecretInputs: []string{}}
	if a.RegisterRPC != nil {
		r.Remote = a.RegisterRPC.GetRemote()
	}
	plain := resource.PropertyMap{}
	for k, v := range a.Inputs {
		if v.IsSecret() {
			r.SecretInputs = append(r.SecretInputs, string(k))
			v = v.SecretValue().Element
		}
		plain[k] = v
	}
	r.Inputs = plain.Mappable()
	m.seen = append(m.seen, r)
	return a.Name + "-id", a.Inputs, nil
}

func (m *mocks) Call(a pulumi.MockCallArgs) (resource.PropertyMap, error) { return resource.PropertyMap{}, nil }

func TestReadmeProgram(t *testing.T) {
	m := &mocks{}
	if err := pulumi.RunErr(program, pulumi.WithMocks("chat", "dev", m)); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(m.seen)
	if err := os.WriteFile(os.Getenv("REGISTERED_OUT"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}
`);
    const formatted = run(gofmt(), ["-l", "main.go"], { cwd: project });
    assert.equal(formatted.stdout.trim(), "", "the documented Go is gofmt-formatted");
    const env = { ...process.env, GOFLAGS: "-mod=mod" };
    sh(go(), ["mod", "tidy"], project, env);
    sh(go(), ["vet", "."], project, env);
    sh(go(), ["build", "-o", "chat", "."], project, env);
    const config = Object.fromEntries(Object.entries(CONFIG).map(([k, v]) => [`chat:${k}`, v]));
    const out = path.join(project, "registered.json");
    sh(go(), ["test", "-count=1", "-run", "TestReadmeProgram", "."], project, {
      ...env, REGISTERED_OUT: out, PULUMI_CONFIG: JSON.stringify(config), PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(["chat:sshPrivateKey"]),
    });
    const server = assertReadmeServer(JSON.parse(fs.readFileSync(out, "utf8")), "Go");
    assert.equal(server.remote, true, "registered as a remote component: the engine constructs it through the plugin");
  });
});
