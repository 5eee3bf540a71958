/**
 * The stack: reads this project's config (see Pulumi.yaml) and deploys one MatrixServer.
 * Everything else lives in components/ (cloud resources) and cloud-init/ (the droplet's payload).
 */
import * as pulumi from "@pulumi/pulumi";
import { MatrixServer } from "./components";

const config = new pulumi.Config();

const server = new MatrixServer("matrix", {
  domain: config.require("domain"),
  adminEmail: config.require("adminEmail"),
  sshKeys: config.requireObject<string[]>("sshKeys"),
  region: config.get("region"),
  size: config.get("size"),
  image: config.get("image"),
  ipv6: config.getBoolean("ipv6"),
  tags: config.getObject<string[]>("tags"),
  existingDomain: config.getBoolean("existingDomain"),
  matrixSubdomain: config.get("matrixSubdomain"),
  elementSubdomain: config.get("elementSubdomain"),
  sshAllowCidrs: config.getObject<string[]>("sshAllowCidrs"),
  sshPrivateKey: config.getSecret("sshPrivateKey"),
  volumeSizeGb: config.getNumber("volumeSizeGb"),
  protectVolume: config.getBoolean("protectVolume"),
  adminUser: config.get("adminUser"),
  synapseVersion: config.get("synapseVersion"),
  elementVersion: config.get("elementVersion"),
  presence: config.getBoolean("presence"),
  maxUploadMb: config.getNumber("maxUploadMb"),
  registration: config.get("registration"),
  smtpHost: config.get("smtpHost"),
  smtpPort: config.getNumber("smtpPort"),
  smtpUser: config.get("smtpUser"),
  smtpPassword: config.getSecret("smtpPassword"),
  emailFrom: config.get("emailFrom"),
  localMediaRetentionDays: config.getNumber("localMediaRetentionDays"),
  remoteMediaRetentionDays: config.getNumber("remoteMediaRetentionDays"),
  forgottenRoomRetentionDays: config.getNumber("forgottenRoomRetentionDays"),
  backupTime: config.get("backupTime"),
  backupKeepDaily: config.getNumber("backupKeepDaily"),
  backupKeepWeekly: config.getNumber("backupKeepWeekly"),
  spacesBucket: config.get("spacesBucket"),
  spacesRegion: config.get("spacesRegion"),
  spacesAccessKeyId: config.get("spacesAccessKeyId"),
  spacesSecretKey: config.getSecret("spacesSecretKey"),
  spacesEndpoint: config.get("spacesEndpoint"),
  dropletBackups: config.get("dropletBackups"),
  alerts: config.getBoolean("alerts"),
  turn: config.getBoolean("turn"),
  alertEmails: config.getObject<string[]>("alertEmails"),
  acmeServer: config.get("acmeServer"),
  caaIssuer: config.get("caaIssuer"),
  extraCaCertificates: config.getObject<string[]>("extraCaCertificates"),
  privateFederationCidrs: config.getObject<string[]>("privateFederationCidrs"),
  elementDownloadBase: config.get("elementDownloadBase"),
  elementKeyUrl: config.get("elementKeyUrl"),
  elementKeyFingerprint: config.get("elementKeyFingerprint"),
  projectName: config.get("projectName"),
  waitForReady: config.getBoolean("waitForReady"),
  readyTimeoutMinutes: config.getNumber("readyTimeoutMinutes"),
});

export const homeserverUrl = server.homeserverUrl;
export const elementUrl = server.elementUrl;
export const serverName = server.serverName;
export const adminUserId = server.adminUserId;
export const adminPassword = server.adminPassword;
export const reservedIp = server.reservedIp;
export const sshCommand = server.sshCommand;
export const sshHostKey = server.sshHostKey;
export const backupPassword = server.backupPassword;
