/**
 * Element Web: its config.json, pointing at this homeserver. The release itself is fetched
 * and signature-checked on the droplet by scripts/install-element.sh.
 */
import { elementMatrixRtcConfig } from "./matrixRtc";
import { Settings } from "./settings";

export function elementConfig(settings: Settings): Record<string, unknown> {
  return {
    default_server_config: {
      "m.homeserver": { base_url: `https://${settings.matrixHost}`, server_name: settings.serverName },
    },
    disable_custom_urls: false,
    disable_guests: true,
    disable_3pid_login: true,
    brand: "Element",
    room_directory: { servers: [settings.serverName] },
    show_labs_settings: false,
    // Sign-up shows only where the server allows it (registration tokens).
    setting_defaults: { "UIFeature.registration": settings.synapse.registration === "token" },
    ...elementMatrixRtcConfig(settings),
  };
}

export function renderElementConfig(settings: Settings): string {
  return JSON.stringify(elementConfig(settings), null, 2) + "\n";
}
