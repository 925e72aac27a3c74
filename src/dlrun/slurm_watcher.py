"""Job states from squeue for submitit, on clusters without accounting. submitit's own watcher asks
sacct only; where sacct fails ("accounting storage is disabled") every job stays UNKNOWN until its
result file appears, so a job that ended without one (killed at its time limit, by the OOM killer,
cancelled) would be waited for forever instead of being reported as failed."""

from __future__ import annotations

import os

from submitit.slurm.slurm import SlurmInfoWatcher

# the state of a job squeue no longer lists (not one of Slurm's: submitit counts it as finished)
UNLISTED = "UNLISTED"


class SqueueWatcher(SlurmInfoWatcher):
    """Job states from `squeue -t all`, which lists ended jobs for MinJobAge seconds (300 by default);
    a job squeue no longer lists has ended and its record was purged: its state is UNLISTED."""

    def _make_command(self) -> list[str] | None:
        if not self._registered - self._finished:
            return None
        # all of this user's jobs: `-j` would fail as a whole once one of the ids is purged
        return ["squeue", "-h", "-t", "all", "-u", str(os.getuid()), "-o", "%i|%T|%N"]

    def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
        text = string.decode() if isinstance(string, bytes) else string
        info = super().read_info("JobID|State|NodeList\n" + text)  # sacct's --parsable2 layout
        for job in self._registered - self._finished - info.keys():
            info[job] = {"JobID": job, "State": UNLISTED, "NodeList": ""}
        return info
