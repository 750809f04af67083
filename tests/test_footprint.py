"""What a conversion costs before any pixel: modules and memory the package pulls in."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
before = set(sys.modules)
import pillow_streamjpeg.cli, pillow_streamjpeg.output
print(" ".join(sorted(set(sys.modules) - before)))
"""


def test_importing_the_command_loads_no_openssl(tmp_path) -> None:
    """hashlib (through secrets or hmac) loads OpenSSL's libcrypto: 3.7 MiB of every
    conversion's peak RSS, for nothing a JPEG needs."""
    run = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    loaded = set(run.stdout.split())
    assert "pillow_streamjpeg.output" in loaded
    assert not loaded & {"hashlib", "_hashlib", "secrets", "hmac"}
