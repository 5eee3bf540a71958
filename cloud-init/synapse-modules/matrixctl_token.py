"""A Synapse resource: an access token for matrixctl's account, to whoever can open the socket.

matrixctl (root, on the droplet) acts as a server admin account that has no password, so no
login from anywhere can use it, guess at it or lock it out. Synapse serves this resource on
one listener only (additional_resources): its admin socket, which only root may open
(cloud-init/synapse.ts). POST makes the account if it is missing (a server admin), and answers
with a token for a new device; matrixctl then removes the account's other devices.
"""
from synapse.config._base import ConfigError
from synapse.module_api import ModuleApi
from synapse.types import UserID


class MatrixctlToken:
    def __init__(self, config, api: ModuleApi):
        self._user_id = config
        self._api = api

    @staticmethod
    def parse_config(config):
        user_id = config.get("user") if isinstance(config, dict) else None
        if not isinstance(user_id, str) or not UserID.is_valid(user_id):
            raise ConfigError("matrixctl_token: expected `user`, a user ID")
        return user_id

    async def handle_request(self, request):
        if request.method != b"POST":
            return 405, {"errcode": "M_UNRECOGNIZED", "error": "POST only"}
        if await self._api.check_user_exists(self._user_id) is None:
            await self._api.register_user(UserID.from_string(self._user_id).localpart, admin=True)
        elif not await self._api.is_user_admin(self._user_id):
            await self._api.set_user_admin(self._user_id, True)
        device_id, token, _, _ = await self._api.register_device(self._user_id, initial_display_name="matrixctl")
        return 200, {"user_id": self._user_id, "device_id": device_id, "access_token": token}
