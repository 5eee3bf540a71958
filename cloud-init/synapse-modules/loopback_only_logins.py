"""A Synapse module: the listed accounts may log in from the droplet itself only.

matrixctl acts as an admin account whose password is kept on the droplet (root only).
Synapse would take that password from anywhere; this refuses the login unless it came to
Synapse's loopback listener straight from 127.0.0.1. Logins through Caddy carry the client's
address (Caddy sets X-Forwarded-For, and does not trust one a client sends), so from
outside the password is useless even if it leaks.
"""
from synapse.api.errors import Codes
from synapse.config._base import ConfigError
from synapse.module_api import NOT_SPAM, ModuleApi

# Synapse listens on 127.0.0.1 only (cloud-init/synapse.ts), so that is where matrixctl comes from.
ON_THE_DROPLET = "127.0.0.1"


class LoopbackOnlyLogins:
    def __init__(self, config, api: ModuleApi):
        self._users = config
        api.register_spam_checker_callbacks(check_login_for_spam=self.check_login)

    @staticmethod
    def parse_config(config):
        users = config.get("users") if isinstance(config, dict) else None
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise ConfigError("loopback_only_logins: expected `users`, a list of user IDs")
        return frozenset(users)

    async def check_login(self, user_id, device_id, initial_display_name, request_info, auth_provider_id=None):
        if user_id in self._users and any(ip != ON_THE_DROPLET for _, ip in request_info):
            return Codes.FORBIDDEN
        return NOT_SPAM
