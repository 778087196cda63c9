"""The public demo credentials of the two stand-ins: the one place they are written down.

They open nothing but a local sandbox (they are printed in the README on purpose). The stand-ins serve
them when no config replaces them; tests, the CLIs, the demo and the benchmarks read them from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SalesforceDemo:
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    refresh_token: str = "sandbox-refresh-token"
    username: str = "integration@example.com"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class NetSuiteDemo:
    account_id: str = "1234567_SB1"
    consumer_key: str = "sandbox-consumer-key"
    consumer_secret: str = "sandbox-consumer-secret"
    token_id: str = "sandbox-token-id"
    token_secret: str = "sandbox-token-secret"

    def tba(self) -> dict[str, str]:
        """The TBA credential as the stand-in's account config spells it."""
        return {"consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret,
                "token_id": self.token_id, "token_secret": self.token_secret}


SALESFORCE = SalesforceDemo()
NETSUITE = NetSuiteDemo()
