"""Loaded by the browser test's Streamlit server only (it is put first on PYTHONPATH).

aioice never offers 127.0.0.1 as an ICE candidate, so on a machine whose only network
interface is loopback (some CI sandboxes) WebRTC cannot connect. There, and only there,
127.0.0.1 is added to the host addresses (Chromium is started with
--allow-loopback-in-peer-connection for its side). With a normal interface present,
nothing is changed: ICE uses that interface, as it would for a real patient.

COACH_E2E_ICE_DEBUG=1 also logs aioice/aiortc at INFO level into the server log.
"""

from __future__ import annotations

import logging
import os

try:
    import aioice.ice as _ice

    _original = _ice.get_host_addresses

    def _with_loopback(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = list(_original(use_ipv4, use_ipv6))
        if use_ipv4 and not any("." in a for a in addresses):
            addresses.append("127.0.0.1")
        return addresses

    _ice.get_host_addresses = _with_loopback
    if os.environ.get("COACH_E2E_ICE_DEBUG") == "1":
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
        for name in ("aioice", "aiortc", "streamlit_webrtc"):
            logging.getLogger(name).setLevel(logging.INFO)
except Exception:  # never break interpreter start-up
    pass
