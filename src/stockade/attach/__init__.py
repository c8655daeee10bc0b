"""The daemon's side of attachable processes: a container's init and its exec sessions,
each held by its own conmon. Output is followed from the monitor's log file (so nothing is
lost to a slow attacher or a daemon restart), stdin goes through the monitor's attach
socket, window sizes through its control fifo."""
