"""Who is signed in, and the rules for getting there: passwords, invitations, limits, idle.

Passwords are hashed with argon2id (argon2-cffi, a kept library; never our own crypto).
Invitation codes and sign-in tokens are long random values, so a fast sha256 of them
is what the database keeps (a leaked database gives neither). Failed sign-ins are
counted in the database, so the limit holds across several app servers. No Streamlit,
no database here: the account service applies these rules through the store.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 10
MAX_PASSWORD = 256
INVITE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
"""No 0/O, 1/I/L or U: a code read out over the phone is typed right."""
INVITE_GROUPS = 3
INVITE_GROUP_LEN = 4

_hasher = PasswordHasher()


class Role(StrEnum):
    THERAPIST = "therapist"
    PATIENT = "patient"
    ADMIN = "admin"
    """The clinic's command line: may do anything, and is logged as such."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in person every service call is checked against (on the server)."""

    role: Role
    id: str | None
    name: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


ADMIN = Principal(Role.ADMIN, None, "command line")


class PasswordProblem(ValueError):
    """A password that cannot be used; the message says why in plain words."""


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PasswordProblem(f"The password needs at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise PasswordProblem(f"The password can have at most {MAX_PASSWORD} characters.")
    if len(set(password)) < 4:
        raise PasswordProblem("The password is too easy to guess: use more different characters.")


def hash_password(password: str) -> str:
    check_new_password(password)
    return _hasher.hash(unicodedata.normalize("NFC", password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True if `password` matches; a missing or damaged hash is simply a mismatch.

    With no account, a dummy hash is still checked so the answer takes as long
    (nobody can tell from the timing which emails are registered)."""
    candidate = unicodedata.normalize("NFC", password)[:MAX_PASSWORD]
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, candidate) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = _hasher.hash("not a real password, only for equal timing")


def new_invite_code() -> str:
    """A code like `K7QM-4XPA-92FD` (about 59 bits): typed once, then a login is made."""
    groups = [
        "".join(secrets.choice(INVITE_ALPHABET) for _ in range(INVITE_GROUP_LEN))
        for _ in range(INVITE_GROUPS)
    ]
    return "-".join(groups)


def normalize_code(code: str) -> str:
    """What the patient typed, without spaces or dashes, in upper case."""
    return "".join(c for c in code.upper() if c.isalnum())


def code_hash(code: str) -> str:
    """The stored form of an invitation code (codes are random: sha256 is enough)."""
    return hashlib.sha256(("invite:" + normalize_code(code)).encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(("signin:" + token).encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().casefold()


def valid_email(email: str) -> bool:
    e = normalize_email(email)
    local, _, domain = e.partition("@")
    return (
        bool(local)
        and "." in domain
        and len(e) <= 254
        and not any(c.isspace() or ord(c) < 32 for c in e)
        and e.count("@") == 1
    )


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How many failed sign-ins an account (or an invitation) allows, and for how long."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    idle_logoff: timedelta = timedelta(minutes=20)
    invite_valid: timedelta = timedelta(days=14)

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if self.window <= timedelta(0) or self.idle_logoff <= timedelta(0):
            raise ValueError("the login window and the idle log-off must be positive")

    def locked(self, failures: int) -> bool:
        return failures >= self.max_failures

    def window_start(self, now: datetime) -> datetime:
        return now - self.window
