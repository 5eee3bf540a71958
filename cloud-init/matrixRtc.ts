/**
 * MatrixRTC, as clients find it: the LiveKit "focus" (the authorization service's URL) that
 * Synapse lists at /_matrix/client/unstable/org.matrix.msc4143/rtc/transports (Element Call
 * 0.17 and later) and /.well-known/matrix/client lists as rtc_foci (older clients), Synapse's
 * settings that calls rely on, and Element Web's switch to Element Call.
 */
import { RenderedFile } from "./formats";
import { livekitFiles } from "./livekit";
import { rtcAuthFiles } from "./rtcAuth";
import { MatrixRtcSettings, Secrets, Settings } from "./settings";

/** What the droplet gets for calls: LiveKit's and the authorization service's files (none when off). */
export function matrixRtcFiles(settings: Settings, secrets: Secrets): RenderedFile[] {
  return [...livekitFiles(settings, secrets), ...rtcAuthFiles(settings, secrets)];
}

/** One LiveKit transport: clients exchange an OpenID token for a LiveKit token at this URL. */
export function rtcTransport(rtc: MatrixRtcSettings): { type: "livekit"; livekit_service_url: string } {
  return { type: "livekit", livekit_service_url: `https://${rtc.host}` };
}

/** The key older clients read the focus from in /.well-known/matrix/client (MSC4143). */
export const RTC_FOCI_KEY = "org.matrix.msc4143.rtc_foci";

/**
 * Synapse's side of calls (its config documentation; Element's ESS sets the same): the
 * transports endpoint (MSC4143), `state_after` in sync (MSC4222, Element Call needs it), and
 * delayed events (MSC4140): a call membership that ends by itself when a client vanishes.
 */
export function synapseMatrixRtcConfig(settings: Settings): Record<string, unknown> {
  if (!settings.matrixRtc) return {};
  return {
    experimental_features: { msc4143_enabled: true, msc4222_enabled: true },
    matrix_rtc: { transports: [rtcTransport(settings.matrixRtc)] },
    max_event_delay_duration: "24h",
    // Clients refresh a call's delayed leave event every few seconds while in a call.
    rc_delayed_event_mgmt: { per_second: 1, burst_count: 20 },
  };
}

/**
 * Element Web: every call through Element Call (bundled with Element Web), video rooms with it;
 * the settings Element's ESS Community ships.
 */
export function elementMatrixRtcConfig(settings: Settings): Record<string, unknown> {
  if (!settings.matrixRtc) return {};
  return {
    features: { feature_video_rooms: true, feature_new_room_decoration_ui: true, feature_element_call_video_rooms: true },
    element_call: { use_exclusively: true },
  };
}
