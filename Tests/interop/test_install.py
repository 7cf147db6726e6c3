"""`make install` as a package build would run it (DESTDIR, the debug binary instead of a fresh
release build), and the systemd unit checked by systemd itself (issue 14)."""
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_install_stages_binary_unit_config_and_docs_and_the_unit_verifies(pushgate_bin, tmp_path):
    dest = tmp_path / "dest"
    env = {**os.environ, "PUSHGATE_BIN": str(pushgate_bin), "DESTDIR": str(dest)}
    subprocess.run([str(ROOT / "scripts" / "install.sh")], check=True, env=env, capture_output=True)
    binary = dest / "usr/local/bin/pushgate"
    assert os.access(binary, os.X_OK)
    assert subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
    unit = (dest / "etc/systemd/system/pushgate.service").read_text()
    for directive in ("User=pushgate", "StateDirectory=pushgate", "ProtectSystem=strict", "NoNewPrivileges=yes",
                      "ExecReload=/bin/kill -HUP $MAINPID", "ExecStart=/usr/local/bin/pushgate serve --config /etc/pushgate/pushgate.yaml"):
        assert directive in unit, directive
    assert (dest / "etc/pushgate/pushgate.yaml").exists()
    assert (dest / "usr/local/share/doc/pushgate/operations.md").exists()

    # A second install keeps the operator's config.
    (dest / "etc/pushgate/pushgate.yaml").write_text("# mine\n")
    subprocess.run([str(ROOT / "scripts" / "install.sh")], check=True, env=env, capture_output=True)
    assert (dest / "etc/pushgate/pushgate.yaml").read_text() == "# mine\n"

    # systemd's own checks, on the unit pointed at the staged files.
    staged = tmp_path / "pushgate.service"
    staged.write_text(unit.replace("/usr/local", f"{dest}/usr/local").replace("/etc/pushgate/", f"{dest}/etc/pushgate/"))
    verify = subprocess.run(["systemd-analyze", "verify", str(staged)], capture_output=True, text=True)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(staged)], capture_output=True, text=True)
    exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout).group(1))
    assert exposure < 2.5, security.stdout[-500:]
