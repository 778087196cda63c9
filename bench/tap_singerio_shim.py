"""Run singer-io's tap-salesforce against the sandbox (benchmark only; runs in bench/.venvs/tap-salesforce).

That tap hard-codes `https://login.salesforce.com/services/oauth2/token`; every other URL comes from the token
response's `instance_url`. This shim rewrites only the login host to `$SF_LOGIN_URL`; TLS verification stays
on, with `REQUESTS_CA_BUNDLE` naming the sandbox CA.
"""

import os

import requests

_LOGIN = "https://login.salesforce.com"
_TARGET = os.environ["SF_LOGIN_URL"].rstrip("/")
_original = requests.Session.request


def _request(self, method, url, *args, **kwargs):
    if isinstance(url, str) and url.startswith(_LOGIN):
        url = _TARGET + url[len(_LOGIN):]
    return _original(self, method, url, *args, **kwargs)


requests.Session.request = _request

if __name__ == "__main__":
    from tap_salesforce import main

    main()
