/**
 * The cloud firewall: in, only SSH (from the allowed CIDRs), HTTP/HTTPS, Matrix federation
 * (8448) and ICMP; out, only what the server uses (any TCP port, as federation may be
 * delegated to any port; DNS; NTP; ICMP). With TURN on, also its ports in and any UDP port
 * out (media is relayed to wherever the peer is). With MatrixRTC on, LiveKit's two media ports
 * in; its answers to clients need no rule out, as the firewall lets replies through.
 */
import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import { FEDERATION_PORT, HTTP_PORT, HTTPS_PORT } from "../cloud-init/ports";
import { CloudOptions } from "./settings";

const EVERYWHERE = ["0.0.0.0/0", "::/0"];

export interface FirewallArgs {
  /** The firewall's name (the droplet's). */
  name: pulumi.Input<string>;
  sshAllowCidrs: pulumi.Input<string[]>;
  dropletId: pulumi.Input<number>;
  /** TURN's ports, when TURN is on. */
  turnPorts?: pulumi.Output<NonNullable<CloudOptions["turnPorts"]>>;
  /** LiveKit's media ports, when MatrixRTC is on. */
  rtcPorts?: pulumi.Output<NonNullable<CloudOptions["rtcPorts"]>>;
}

export function declareFirewall(name: string, args: FirewallArgs, opts: pulumi.CustomResourceOptions): digitalocean.Firewall {
  return new digitalocean.Firewall(`${name}-firewall`, {
    name: args.name,
    dropletIds: [args.dropletId],
    inboundRules: [
      { protocol: "tcp", portRange: "22", sourceAddresses: args.sshAllowCidrs },
      { protocol: "tcp", portRange: String(HTTP_PORT), sourceAddresses: EVERYWHERE },
      { protocol: "tcp", portRange: String(HTTPS_PORT), sourceAddresses: EVERYWHERE },
      { protocol: "tcp", portRange: String(FEDERATION_PORT), sourceAddresses: EVERYWHERE },
      { protocol: "icmp", sourceAddresses: EVERYWHERE },
      ...(args.turnPorts
        ? [
          { protocol: "udp", portRange: args.turnPorts.apply((p) => String(p.listening)), sourceAddresses: EVERYWHERE },
          { protocol: "tcp", portRange: args.turnPorts.apply((p) => String(p.listening)), sourceAddresses: EVERYWHERE },
          { protocol: "tcp", portRange: args.turnPorts.apply((p) => String(p.tls)), sourceAddresses: EVERYWHERE },
          { protocol: "udp", portRange: args.turnPorts.apply((p) => `${p.relay.min}-${p.relay.max}`), sourceAddresses: EVERYWHERE },
        ]
        : []),
      ...(args.rtcPorts
        ? [
          { protocol: "tcp", portRange: args.rtcPorts.apply((p) => String(p.tcp)), sourceAddresses: EVERYWHERE },
          { protocol: "udp", portRange: args.rtcPorts.apply((p) => String(p.udp)), sourceAddresses: EVERYWHERE },
        ]
        : []),
    ],
    outboundRules: [
      { protocol: "tcp", portRange: "1-65535", destinationAddresses: EVERYWHERE },
      ...(args.turnPorts
        ? [{ protocol: "udp", portRange: "1-65535", destinationAddresses: EVERYWHERE }]
        : [
          { protocol: "udp", portRange: "53", destinationAddresses: EVERYWHERE },
          { protocol: "udp", portRange: "123", destinationAddresses: EVERYWHERE },
        ]),
      { protocol: "icmp", destinationAddresses: EVERYWHERE },
    ],
  }, opts);
}
