"""`codegen`: modified flows as standalone JAX modules (module, header, hash, modes)."""

from .hashing import content_hash as content_hash
from .hashing import verify_content_hash as verify_content_hash
from .module import GeneratedCode as GeneratedCode
from .module import codegen as codegen

__all__ = ["GeneratedCode", "codegen", "content_hash", "verify_content_hash"]
