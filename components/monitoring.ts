/**
 * DigitalOcean's monitoring for the droplet (the agent is on: `monitoring: true`) and an uptime
 * check on the homeserver, each alerting by email.
 */
import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import { Settings } from "../cloud-init/settings";

/** Resource alerts: type, threshold (percent), window. Chosen to fire before users notice. */
export const RESOURCE_ALERTS = [
  { id: "cpu", type: "v1/insights/droplet/cpu", value: 90, window: "10m", what: "CPU above 90% for 10 minutes" },
  { id: "memory", type: "v1/insights/droplet/memory_utilization_percent", value: 90, window: "10m", what: "memory above 90% for 10 minutes" },
  { id: "disk", type: "v1/insights/droplet/disk_utilization_percent", value: 85, window: "5m", what: "disk above 85% full" },
] as const;

export interface MonitoringArgs {
  settings: pulumi.Output<Settings>;
  dropletId: pulumi.Input<string>;
  emails: pulumi.Input<string[]>;
}

export function declareMonitoring(name: string, args: MonitoringArgs, opts: pulumi.CustomResourceOptions): pulumi.Resource[] {
  const alerts: pulumi.Resource[] = RESOURCE_ALERTS.map((alert) => new digitalocean.MonitorAlert(`${name}-alert-${alert.id}`, {
    type: alert.type,
    compare: "GreaterThan",
    value: alert.value,
    window: alert.window,
    entities: [args.dropletId],
    description: pulumi.interpolate`Matrix ${args.settings.serverName}: ${alert.what}`,
    alerts: { emails: args.emails },
    enabled: true,
  }, opts));

  // From outside, through DNS and TLS, as users reach it.
  const check = new digitalocean.UptimeCheck(`${name}-uptime`, {
    name: pulumi.interpolate`matrix-${args.settings.droplet.name}`,
    target: pulumi.interpolate`https://${args.settings.matrixHost}/_matrix/client/versions`,
    type: "https",
    regions: ["us_east", "eu_west"],
    enabled: true,
  }, opts);
  const notifications = [{ emails: args.emails }];
  alerts.push(
    check,
    new digitalocean.UptimeAlert(`${name}-uptime-down`, {
      checkId: check.id, name: pulumi.interpolate`Matrix ${args.settings.serverName} is down`,
      type: "down", threshold: 1, comparison: "less_than", period: "2m", notifications,
    }, opts),
    // Caddy renews 30 days ahead; 14 days left means renewal has been failing for two weeks.
    new digitalocean.UptimeAlert(`${name}-uptime-certificate`, {
      checkId: check.id, name: pulumi.interpolate`Matrix ${args.settings.serverName}: TLS certificate expires soon`,
      type: "ssl_expiry", threshold: 14, comparison: "less_than", period: "2m", notifications,
    }, opts),
  );
  return alerts;
}
