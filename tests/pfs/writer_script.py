"""Run as a subprocess by the fault tests: one writer doing what the test asks."""

from __future__ import annotations

import io
import random
import sys

from raypachy.pfs import PFS


class Stream(io.RawIOBase):
    def __init__(self, total: int, seed: int) -> None:
        self.left = total
        self.rng = random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buf), self.left, 1 << 20)
        buf[:n] = self.rng.randbytes(n)
        self.left -= n
        return n


def main() -> None:
    home, action = sys.argv[1], sys.argv[2]
    pfs = PFS.open(home)
    if action == "big-put":
        pfs.put_file("r@master", "/huge", Stream(int(sys.argv[3]), 7))  # type: ignore[arg-type]
    elif action == "many-puts":
        writer, count = sys.argv[3], int(sys.argv[4])
        for i in range(count):
            pfs.put_file("r@master", f"/{writer}/{i}", f"{writer}-{i}".encode())
    elif action == "start":
        try:
            c = pfs.start_commit("r@master")
            print("WON", c.id)
        except Exception as e:
            print("LOST", type(e).__name__, e)


if __name__ == "__main__":
    main()
