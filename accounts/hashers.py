"""Password hashing sized for small instances."""
from __future__ import annotations

from django.contrib.auth import hashers


class Argon2PasswordHasher(hashers.Argon2PasswordHasher):
    """
    Argon2id with OWASP's first recommended setting (19 MiB, 2 passes, 1 lane) instead of
    Django's 100 MiB and 8 lanes: at 100 MiB a hash, about 8 sign-ins at once fill a
    512 MB instance. The algorithm name stays `argon2`, so existing hashes still verify
    and are rewritten with these parameters at their owner's next sign-in.
    """

    memory_cost = 19 * 1024
    time_cost = 2
    parallelism = 1
