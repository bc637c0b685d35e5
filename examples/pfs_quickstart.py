"""A short walkthrough of raypachy's versioned data: the CLI first, then the Python API.

Run with ``make demo``. The first command starts the embedded default (a local Ray head and
the control plane); the demo stops it at the end. State goes to $RAYPACHY_HOME, which the
Makefile points at a fresh temporary directory so the demo never touches your own data.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _demo import fresh_installation, sh


def main() -> None:
    fresh_installation("raypachy-demo-")
    try:
        walkthrough()
    finally:
        sh("raypachy down")


def walkthrough() -> None:
    data = Path(tempfile.mkdtemp(prefix="raypachy-data-"))
    (data / "2024").mkdir()
    (data / "2024" / "jan.csv").write_text("day,temp\n1,3.5\n2,4.1\n")
    (data / "2024" / "feb.csv").write_text("day,temp\n1,6.0\n2,5.2\n")
    (data / "README").write_text("weather readings\n")

    sh("raypachy status")
    sh("raypachy create repo weather -d 'daily readings'")  # starts the cluster: it says so
    sh(f"raypachy put file weather@master:/ -r -f {data}")
    sh("raypachy list file weather@master")
    sh("raypachy glob file weather@master:/2024/*.csv")
    sh("raypachy put file weather@master:/2024/mar.csv -f -", stdin="day,temp\n1,9.9\n")
    sh("raypachy diff file weather@master")
    sh("raypachy list commit weather@master")
    sh("raypachy get file weather@master^:/2024/jan.csv")
    sh("raypachy create branch weather@v1 --head master^")
    sh("raypachy list branch weather")
    commit = sh("raypachy start commit weather@master").strip()
    sh("raypachy put file weather@master:/2024/apr.csv -f -", stdin="day,temp\n1,12.0\n")
    sh("raypachy delete file weather@master:/README")
    sh(f"raypachy finish commit weather@{commit}")
    sh("raypachy inspect commit weather@master -o json")
    sh("raypachy get file weather@master:/nope", may_fail=True)  # one-line error, exit code 1
    sh("raypachy gc")

    print("\n# the same store from Python")
    import raypachy

    with raypachy.connect() as client:
        with client.modify("weather@master") as m:
            m.put("/2024/may.csv", b"day,temp\n1,15.5\n")
            m.copy("weather@master", "/2024/jan.csv", "/archive/jan.csv")  # no bytes move
        for info in client.list_files("weather@master", "/2024"):
            print(f"{info.path:24} {info.size_bytes:6d}  {info.hash[:12]}")
        print("v1 still sees", [f.path for f in client.list_files("weather@v1", "/2024")])


if __name__ == "__main__":
    main()
