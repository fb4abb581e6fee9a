"""Layer-free building blocks (standard library only), importable from every layer."""
