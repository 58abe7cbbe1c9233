"""Language families: which definitions a reference can reach.

A name is only a link between two files when one can actually call or name what the
other defines. A Python call to ``area`` cannot reach a Dart ``area``; a C++ source can
reach a C header's functions, TypeScript imports JavaScript modules, Kotlin and Scala
call Java classes. The graph keys every name by the referring file's family, so the
same string in two families is two unrelated names.

Every language not grouped here is a family of its own. Markdown is one too: its
sections are definitions no code reference resolves to (markdown files themselves
carry no references).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from . import language_for_path

#: language (registry name) → family, for languages that share one; others map to themselves
FAMILY_OF_LANGUAGE: Mapping[str, str] = MappingProxyType({
    # one toolchain, one linker namespace: sources and headers of both include each other
    "c": "c", "cpp": "c",
    # TypeScript imports JavaScript modules and is compiled to them
    "javascript": "js", "typescript": "js", "tsx": "js",
    # one bytecode, one class path
    "java": "jvm", "kotlin": "jvm", "scala": "jvm",
    # an OCaml module's implementation and its interface
    "ocaml": "ocaml", "ocaml_interface": "ocaml",
})

#: the family of files whose language is unknown (they carry no tags)
UNKNOWN = ""


def family(language: str | None) -> str:
    """Family of a registry language name (``"cpp"`` → ``"c"``); unknown → ``""``."""
    if not language:
        return UNKNOWN
    return FAMILY_OF_LANGUAGE.get(language, language)


def family_for_path(path: str) -> str:
    """Family of a file by its extension, the same rule discovery uses for its language."""
    return family(language_for_path(path))
