"""Identity: credential profiles (``github:default`` -> env var, file or vendor CLI), resolved just in
time and registered with the redactor the moment they are read."""

from tollhouse.identity.profiles import BUILTIN_PROFILES, Profile, ProfileError, parse_profiles
from tollhouse.identity.resolver import CredentialResolver, build_resolver
from tollhouse.identity.sources import CredentialError

__all__ = [
    "BUILTIN_PROFILES",
    "CredentialError",
    "CredentialResolver",
    "Profile",
    "ProfileError",
    "build_resolver",
    "parse_profiles",
]
