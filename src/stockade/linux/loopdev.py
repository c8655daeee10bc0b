"""Loop devices through /dev/loop-control and ioctls, without losetup."""

import contextlib
import ctypes
import errno
import fcntl
import os
from pathlib import Path

LOOP_CONTROL = Path("/dev/loop-control")
_LOOP_CTL_GET_FREE = 0x4C82
_LOOP_CONFIGURE = 0x4C0A
_LOOP_CLR_FD = 0x4C01
LO_FLAGS_AUTOCLEAR = 4
_ATTEMPTS = 16  # another process may take the free device between query and configure


class _LoopInfo64(ctypes.Structure):
    _fields_ = [("lo_device", ctypes.c_uint64), ("lo_inode", ctypes.c_uint64),
                ("lo_rdevice", ctypes.c_uint64), ("lo_offset", ctypes.c_uint64),
                ("lo_sizelimit", ctypes.c_uint64), ("lo_number", ctypes.c_uint32),
                ("lo_encrypt_type", ctypes.c_uint32), ("lo_encrypt_key_size", ctypes.c_uint32),
                ("lo_flags", ctypes.c_uint32), ("lo_file_name", ctypes.c_uint8 * 64),
                ("lo_crypt_name", ctypes.c_uint8 * 64), ("lo_encrypt_key", ctypes.c_uint8 * 32),
                ("lo_init", ctypes.c_uint64 * 2)]


class _LoopConfig(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_uint32), ("block_size", ctypes.c_uint32),
                ("info", _LoopInfo64), ("reserved", ctypes.c_uint64 * 8)]


def available() -> bool:
    return LOOP_CONTROL.exists()


def attach(backing: Path) -> tuple[Path, int]:
    """Bind `backing` to a free loop device with autoclear; (device, open fd).

    The caller must mount the device before closing the fd: with autoclear the kernel
    detaches the device when its last user goes, so an unmount is all the cleanup needed."""
    file_fd = os.open(backing, os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(_ATTEMPTS):
            device = _free_device()
            dev_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
            config = _LoopConfig(fd=file_fd)
            config.info.lo_flags = LO_FLAGS_AUTOCLEAR
            name = str(backing).encode()[:63]
            ctypes.memmove(config.info.lo_file_name, name, len(name))
            try:
                fcntl.ioctl(dev_fd, _LOOP_CONFIGURE, bytes(config))
            except OSError as exc:
                os.close(dev_fd)
                if exc.errno == errno.EBUSY:
                    continue
                raise
            return device, dev_fd
        raise OSError(errno.EBUSY, "no free loop device after repeated attempts")
    finally:
        os.close(file_fd)


def _free_device() -> Path:
    control = os.open(LOOP_CONTROL, os.O_RDWR | os.O_CLOEXEC)
    try:
        number = fcntl.ioctl(control, _LOOP_CTL_GET_FREE)
    finally:
        os.close(control)
    return Path(f"/dev/loop{number}")


def detach(device: Path) -> None:
    """Clear a loop device's backing file; an already detached device is fine."""
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, _LOOP_CLR_FD)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
        finally:
            os.close(fd)


def devices_backed_by(prefix: Path) -> list[Path]:
    """Loop devices whose backing file lies at or under `prefix` (ours to clean up)."""
    found = []
    for entry in Path("/sys/block").glob("loop*"):
        try:
            text = (entry / "loop/backing_file").read_text().strip()
            backing = Path(text.removesuffix(" (deleted)"))
        except OSError:
            continue
        if backing == prefix or prefix in backing.parents:
            found.append(Path("/dev") / entry.name)
    return sorted(found)
