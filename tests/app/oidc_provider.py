"""A real OpenID Connect provider on 127.0.0.1 for the sign-in tests: `oidc-provider-mock`
(Flask + Authlib) with predefined users, served by werkzeug on a thread.

Its authorization page lists the predefined users as buttons; clicking one signs in as that
user and sends the browser back with a code, as a real provider's login page would. The ID
token it issues carries the user's claims (e-mail, groups) and `iat`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import oidc_provider_mock
import werkzeug.serving


@contextmanager
def oidc_provider(users: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """Serve a provider whose users are `sub -> claims`; yields its issuer URL."""
    app = oidc_provider_mock.app(
        require_nonce=True,
        user_claims=[oidc_provider_mock.User(sub=sub, claims=dict(c)) for sub, c in users.items()],
    )
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
