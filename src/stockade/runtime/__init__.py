"""Drive runc: create, start, exec, signal, state, delete; detect exits and OOM kills."""
