#!/usr/bin/python3
"""Create an admin account through Synapse's shared-secret registration, and leave no session.

Usage: register-account.py SECRETS_YAML SYNAPSE_URL USER PASSWORD_FILE

Registration hands back a new device with a live access token, which nobody uses (the admin
logs in from their own client; matrixctl logs in as its own device): it is logged out at once,
where register_new_matrix_user would leave it behind.
"""
import hashlib
import hmac
import json
import sys
import urllib.error
import urllib.request

import yaml


def call(method, url, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main():
    secrets_file, base, user, password_file = sys.argv[1:]
    with open(secrets_file, encoding="utf-8") as f:
        secret = yaml.safe_load(f)["registration_shared_secret"]
    with open(password_file, encoding="utf-8") as f:
        password = f.read().strip()
    url = f"{base}/_synapse/admin/v1/register"
    nonce = call("GET", url)["nonce"]
    # Synapse's scheme: HMAC-SHA1 over nonce, user, password and "admin", NUL-separated.
    mac = hmac.new(secret.encode(), b"\x00".join(p.encode() for p in (nonce, user, password, "admin")), hashlib.sha1)
    try:
        reply = call("POST", url, {"nonce": nonce, "username": user, "password": password, "admin": True, "mac": mac.hexdigest()})
    except urllib.error.HTTPError as e:
        if json.load(e).get("errcode") == "M_USER_IN_USE":
            print(f"@{user} exists already", file=sys.stderr)
            return
        raise
    call("POST", f"{base}/_matrix/client/v3/logout", {}, reply["access_token"])
    print(f"registered {reply['user_id']} (admin), its registration session logged out", file=sys.stderr)


if __name__ == "__main__":
    main()
