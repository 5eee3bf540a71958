/**
 * What the component declares, checked against DigitalOcean's published API (OpenAPI v2 spec in
 * ../shared/digitalocean-openapi): each resource's inputs turned into the request body the
 * provider sends (as terraform-provider-digitalocean maps them through godo) and validated
 * against that operation's schema — enums, required fields, types. A value the API would refuse
 * fails here instead of in a user's first `pulumi up`.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import Ajv, { ValidateFunction } from "ajv";
import * as YAML from "yaml";
import type { MatrixServer as MatrixServerClass } from "../components";
import { TEST_DEPLOY_KEY, VALID_ARGS } from "./fixtures";
import { ROOT } from "./local-services";
import { Declared, installMocks, ofType, recording, valueOf } from "./mocks";

const SPEC = path.resolve(ROOT, "..", "shared", "digitalocean-openapi", "DigitalOcean-public.v2.yaml");

type Body = Record<string, unknown>;
/** Provider resource type → the API operation it creates with, and its request body from the inputs. */
const OPERATIONS: Record<string, { operationId: string; body: (p: Body) => Body | Body[] }> = {
  "digitalocean:index/droplet:Droplet": {
    operationId: "droplets_create",
    body: (p) => drop({
      name: p.name, region: p.region, size: p.size, image: p.image, ssh_keys: p.sshKeys, ipv6: p.ipv6, monitoring: p.monitoring,
      tags: p.tags, user_data: p.userData, backups: p.backups,
      backup_policy: p.backupPolicy && drop({ plan: (p.backupPolicy as Body).plan, hour: (p.backupPolicy as Body).hour }),
    }),
  },
  "digitalocean:index/volume:Volume": {
    operationId: "volumes_create",
    body: (p) => drop({ name: p.name, region: p.region, size_gigabytes: p.size, description: p.description, filesystem_type: p.initialFilesystemType, tags: p.tags }),
  },
  "digitalocean:index/reservedIp:ReservedIp": { operationId: "reservedIPs_create", body: (p) => drop({ region: p.region }) },
  "digitalocean:index/dnsRecord:DnsRecord": {
    operationId: "domains_create_record",
    body: (p) => drop({ type: p.type, name: p.name, data: p.value, priority: p.priority, port: p.port, ttl: p.ttl, weight: p.weight, flags: p.flags, tag: p.tag }),
  },
  "digitalocean:index/firewall:Firewall": {
    operationId: "firewalls_create",
    body: (p) => drop({
      name: p.name, droplet_ids: p.dropletIds, tags: p.tags,
      // godo omits an empty port range (ICMP); the spec requires `ports` on every rule, and the
      // API answers "0" for ICMP: the rule is checked with the API's value.
      inbound_rules: (p.inboundRules as Body[]).map((r) => ({ protocol: r.protocol, ports: r.portRange ?? "0", sources: { addresses: r.sourceAddresses } })),
      outbound_rules: (p.outboundRules as Body[]).map((r) => ({ protocol: r.protocol, ports: r.portRange ?? "0", destinations: { addresses: r.destinationAddresses } })),
    }),
  },
  "digitalocean:index/monitorAlert:MonitorAlert": {
    operationId: "monitoring_create_alertPolicy",
    body: (p) => drop({
      alerts: { email: (p.alerts as Body).emails ?? [], slack: [] }, compare: p.compare, description: p.description, enabled: p.enabled,
      entities: p.entities, tags: p.tags ?? [], type: p.type, value: p.value, window: p.window,
    }),
  },
  "digitalocean:index/uptimeCheck:UptimeCheck": {
    operationId: "uptime_create_check",
    body: (p) => drop({ name: p.name, type: p.type, target: p.target, regions: p.regions, enabled: p.enabled }),
  },
  "digitalocean:index/uptimeAlert:UptimeAlert": {
    operationId: "uptime_create_alert",
    body: (p) => drop({
      name: p.name, type: p.type, threshold: p.threshold, comparison: p.comparison, period: p.period,
      notifications: { email: (p.notifications as Body[])[0].emails, slack: [] },
    }),
  },
  "digitalocean:index/sshKey:SshKey": { operationId: "sshKeys_create", body: (p) => drop({ name: p.name, public_key: p.publicKey }) },
  "digitalocean:index/project:Project": {
    operationId: "projects_create",
    body: (p) => drop({ name: p.name, description: p.description, purpose: p.purpose, environment: p.environment }),
  },
};

/**
 * Where the spec contradicts itself, and how the check reads it instead: uptime_create_check
 * requires `method`, a property its schema (check_updatable) does not define and that neither
 * godo nor the provider sends.
 */
const SPEC_DEFECTS: Record<string, (schema: Body) => void> = {
  uptime_create_check: (schema) => {
    schema.required = (schema.required as string[]).filter((field) => field !== "method");
  },
};

/** The object without its undefined fields (the provider sends none of them). */
function drop(body: Body): Body {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

/** Every input resolved (Outputs, nested too), as the provider receives them. */
async function resolved(value: unknown): Promise<unknown> {
  const v: unknown = await valueOf(value as never);
  if (Array.isArray(v)) return Promise.all(v.map(resolved));
  if (v !== null && typeof v === "object") return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await resolved(x)])));
  return v;
}

describe("declared resources against DigitalOcean's API spec", () => {
  let MatrixServer: typeof MatrixServerClass;
  const validators = new Map<string, ValidateFunction>();

  before(async () => {
    const spec = YAML.parse(fs.readFileSync(SPEC, "utf8"));
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema({ components: spec.components }, "do");
    for (const [pathName, methods] of Object.entries(spec.paths as Record<string, Record<string, Body>>)) {
      const post = methods.post as { operationId?: string; requestBody?: { content: Record<string, { schema: Body }> } } | undefined;
      const entry = Object.values(OPERATIONS).find((o) => o.operationId === post?.operationId);
      if (!entry || !post?.requestBody) continue;
      // Refs in the operation point into the components of the schema added above.
      const schema = JSON.parse(JSON.stringify(post.requestBody.content["application/json"].schema).replace(/"#\/components\//g, '"do#/components/'));
      SPEC_DEFECTS[entry.operationId]?.(schema);
      validators.set(entry.operationId, ajv.compile(schema));
      void pathName;
    }
    assert.equal(validators.size, Object.keys(OPERATIONS).length, "every operation is in the spec");
    await installMocks();
    ({ MatrixServer } = await import("../components"));
  });

  async function check(declared: Declared[]): Promise<string[]> {
    const problems: string[] = [];
    for (const d of declared) {
      const op = OPERATIONS[d.type];
      if (!op) continue;
      const bodies = [op.body((await resolved(d.props)) as Body)].flat();
      for (const body of bodies) {
        const validate = validators.get(op.operationId)!;
        if (!validate(body)) problems.push(`${d.type} ${d.name}: ${JSON.stringify(validate.errors?.map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`))} in ${JSON.stringify(body).slice(0, 300)}`);
      }
    }
    return problems;
  }

  it("the default stack and one with every option on make only valid requests", async () => {
    for (const overrides of [{}, {
      turn: true, projectName: "Matrix", dropletBackups: "weekly", tags: ["prod", "chat"], sshAllowCidrs: ["203.0.113.0/24", "2001:db8::/32"],
      alertEmails: ["ops@example.test"], existingDomain: true, sshPublicKey: TEST_DEPLOY_KEY.publicKey,
    }]) {
      const declared: Declared[] = [];
      new MatrixServer(`api${Object.keys(overrides).length}`, { ...VALID_ARGS, ...overrides }, recording(declared));
      await new Promise((r) => setTimeout(r, 200));
      const covered = new Set(declared.map((d) => d.type).filter((t) => OPERATIONS[t]));
      assert.ok(covered.size >= (Object.keys(overrides).length ? 10 : 8), `checked types: ${[...covered].join(", ")}`);
      assert.deepEqual(await check(declared), []);
    }
  });

  it("finds a value the API would refuse (the check can fail)", async () => {
    const declared: Declared[] = [];
    new MatrixServer("bad", { ...VALID_ARGS }, recording(declared));
    await new Promise((r) => setTimeout(r, 200));
    const alert = ofType(declared, "digitalocean:index/monitorAlert:MonitorAlert")[0];
    alert.props = { ...alert.props, window: "7m" };
    const record = ofType(declared, "digitalocean:index/dnsRecord:DnsRecord")[0];
    record.props = { ...record.props, type: undefined, ttl: "1800" };
    const problems = await check([alert, record]);
    assert.equal(problems.length, 2, problems.join("\n"));
    assert.match(problems[0], /window/);
    assert.match(problems[1], /required property 'type'/);
    assert.match(problems[1], /\/ttl must be integer/);
  });
});
