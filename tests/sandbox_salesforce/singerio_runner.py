"""Run singer-io's tap-salesforce, unmodified, against the stand-in (executed by that tap's own venv python).

The tap hard-codes `https://login.salesforce.com/services/oauth2/token`; every other URL comes from the token
response's `instance_url`. This wrapper rewrites only that login host to `$SF_LOGIN_URL` (TLS verification stays
on: `REQUESTS_CA_BUNDLE` names the sandbox CA) and shortens the Bulk 1.0 batch polling pause from 20 s, then runs
the tap's own `main()` with the given arguments. The installed package is never edited.
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
    import tap_salesforce.salesforce.bulk as bulk
    from tap_salesforce import main

    bulk.BATCH_STATUS_POLLING_SLEEP = 0.2
    main()
