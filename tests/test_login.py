"""`manifold login` / `logout` against the htpasswd registry, and use of the stored credentials."""

from __future__ import annotations

import io
import json
import sys

import pytest

from manifold.__main__ import main


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("DOCKER_AUTH_CONFIG", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "docker" / "config.json"


def login(monkeypatch, capsys, host, user, password):
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    code = main(["login", host, "-u", user, "--password-stdin"])
    out, err = capsys.readouterr()
    return code, out, err


def test_login_stores_credentials_that_later_commands_use(monkeypatch, capsys, registry_basic, docker_config):
    host = registry_basic.host
    code, out, err = login(monkeypatch, capsys, host, registry_basic.username, registry_basic.password)
    assert code == 0, err
    assert "Login succeeded" in out
    assert registry_basic.password not in out + err
    saved = json.loads(docker_config.read_text())
    assert host in saved["auths"] and "auth" in saved["auths"][host]
    assert (docker_config.stat().st_mode & 0o777) == 0o600

    # a command against the protected registry now authenticates with the stored credentials
    code = main(["platforms", f"{host}/nothing/here:1"])
    _out, err = capsys.readouterr()
    assert code == 3, err  # authenticated (not 4), the repository just doesn't exist

    code = main(["logout", host])
    out, _err = capsys.readouterr()
    assert code == 0 and "Removed" in out
    assert host not in json.loads(docker_config.read_text()).get("auths", {})
    assert main(["platforms", f"{host}/nothing/here:1"]) == 4
    _out, err = capsys.readouterr()
    assert err.startswith("error:")


def test_wrong_password_is_refused_and_nothing_written(monkeypatch, capsys, registry_basic, docker_config):
    code, out, err = login(monkeypatch, capsys, registry_basic.host, registry_basic.username, "wrong-MARKER-pw")
    assert code == 4 and err.startswith("error:")
    assert "wrong-MARKER-pw" not in out + err
    assert not docker_config.exists()


def test_password_must_come_from_stdin(capsys, docker_config):
    assert main(["login", "127.0.0.1:1", "-u", "x"]) == 2
    assert "--password-stdin" in capsys.readouterr().err
