"""stockade-oci: an OCI runtime that hardens a foreign bundle, then hands it to runc.

Keep this file empty of imports: every runc call an orchestrator makes starts here, and
the pass-through path must stay as cheap as starting the interpreter.
"""
