"""What `serve` and its access log say: no credential in the log, which token is in force and
what about it is unsafe, and a port already in use."""

from __future__ import annotations

import logging

import httpx

from tests.support import running_server


def test_a_token_in_a_query_string_never_reaches_the_access_log(state, caplog):
    access = logging.getLogger("uvicorn.access")
    secret = "query-secret-0123456789"
    with running_server(state, log_level="info", access_log=True) as url:
        access.addHandler(caplog.handler)
        try:
            with caplog.at_level(logging.INFO, logger="uvicorn.access"):
                refused = httpx.post(f"{url}/v1/figures?token={secret}", json={"figures": []})
                other_name = httpx.post(f"{url}/v1/retrain?t={secret}", json={})
                served = httpx.get(f"{url}/v1/series?api_key={secret}&x=1")
                auth = httpx.get(f"{url}/v1/series?auth={secret}")
        finally:
            access.removeHandler(caplog.handler)
    statuses = (refused.status_code, other_name.status_code, served.status_code, auth.status_code)
    # a token in the query is no parameter of /v1/series: refused, and still not logged
    assert statuses == (401, 401, 422, 422)
    lines = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert len(lines) == 4, lines
    assert not [line for line in lines if secret in line], lines
    assert any("/v1/series?api_key=[redacted]&x=1" in line for line in lines), lines
    assert any("/v1/series?auth=[redacted]" in line for line in lines), lines
    assert any("/v1/retrain?[redacted]" in line and "401" in line for line in lines), lines


def test_any_credential_named_like_one_is_redacted_whatever_its_exact_name() -> None:
    """Exact names only had let client_secret, refresh_token or X-Amz-Signature through."""
    from serving.access_log import REDACTED, redact

    names = ["client_secret", "refresh_token", "id_token", "private_key", "jwt", "sessionid",
             "X-Amz-Signature", "API_KEY", "password"]  # fmt: skip
    for name in names:
        logged = redact(f"/v1/series?horizon=5&{name}=s3cr3t&levels=80", 422)
        assert logged == f"/v1/series?horizon=5&{name}={REDACTED}&levels=80", name
    assert redact("/v1/series?horizon=5&levels=80", 200) == "/v1/series?horizon=5&levels=80"


def test_serve_names_the_token_in_force_and_what_about_it_is_unsafe(tmp_path) -> None:
    """The banner always said "FRAUDCAST_API_TOKEN or data/.api-token", and a token file any
    user could read, or a three-letter token, went unremarked."""
    from serving.commands.service import token_notes
    from serving.settings import ServiceSettings

    token_file = tmp_path / ".api-token"
    from_env = ServiceSettings(api_token="abc", token_file=token_file)
    assert token_notes(from_env, from_env.resolved_token())[0].endswith("in FRAUDCAST_API_TOKEN")
    assert "is 3 characters, short enough to guess" in token_notes(from_env, "abc")[1]
    generated = ServiceSettings(token_file=token_file)
    token = generated.resolved_token()
    assert token_notes(generated, token) == [
        f"write endpoints need the bearer token in {token_file}"
    ]
    token_file.chmod(0o644)
    assert token_notes(generated, token)[1] == (
        f"warning: {token_file} can be read by others (mode 644): chmod 600 {token_file}"
    )


def test_serve_on_a_port_in_use_says_so_before_announcing_itself(tmp_path) -> None:
    """It printed "fraudcast on http://…", started the app, then failed with [Errno 98]."""
    import socket

    from typer.testing import CliRunner

    from serving.cli import app
    from tests.support import environment

    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        result = CliRunner(env=environment(tmp_path)).invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "fraudcast on http" not in result.stdout
