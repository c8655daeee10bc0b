"""Run by test_exec_confinement in a container's pid namespace: try to make and run an
executable anonymous memory file; print each step's errno (0: it worked)."""

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
MFD_EXEC = 0x10

fd = libc.memfd_create(b"x", MFD_EXEC)
print("exec_flag", 0 if fd >= 0 else ctypes.get_errno())
fd = libc.memfd_create(b"y", 0)
with open("/usr/bin/true", "rb") as program:
    os.write(fd, program.read())
try:
    os.fchmod(fd, 0o755)
    print("chmod", 0)
except OSError as err:
    print("chmod", err.errno)
try:
    os.execve(fd, ["true"], {})  # execveat(fd, "", AT_EMPTY_PATH)
except OSError as err:
    print("execveat", err.errno)
