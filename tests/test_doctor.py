"""`hivemind doctor`: each check on made-up machines, keys named and never shown, endpoints probed only when asked, the
exit status."""
import argparse, contextlib, io, os, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest
from hivemind import doctor
from hivemind.doctor import (Check, add_doctor_arguments, check_cpu, check_model, cpu_flags, doctor_checks,
                             doctor_command, format_checks, probe)
from hivemind.endpoints import GEMMA_SHA256, packaged_gguf
from hivemind.runs import sha256_file

SECRET = 'sk-doctor-' + 'Zq81x' * 6


class Endpoint:
    "An HTTP server on 127.0.0.1 that answers GET with `status` and counts the requests (and their Authorization)"
    def __init__(self, status=200):
        self.status, self.requests = status, []

    def __enter__(self):
        owner = self
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args): pass
            def do_GET(self):
                owner.requests.append((self.path, self.headers.get('authorization')))
                self.send_response(owner.status); self.send_header('content-length', '2'); self.end_headers()
                self.wfile.write(b'{}')
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.timeout = 1
        threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.1), daemon=True).start()
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}/v1'
        return self

    def __exit__(self, *exc): self.server.shutdown(); self.server.server_close()


def settings_file(folder:Path, url:str) -> Path:
    "A settings file with a profile `remote` whose model sits behind `url`, its key in HM_DOCTOR_KEY"
    path = folder/'settings.ini'
    path.write_text(f"""
[remote]
description = a profile behind an endpoint
models = far
decodings = top_p
embedder = tfidf-words

[decoding:top_p]

[embedder:tfidf-words]
backend = tfidf-words

[model:far]
name = far-model
base_url = {url}
api_key_env = HM_DOCTOR_KEY
""")
    return path


def doctor_output(*argv) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_doctor_arguments(parser)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = doctor_command(parser.parse_args(list(map(str, argv))))
    return status, out.getvalue()


def by_name(checks): return {c.name: c for c in checks}


def test_a_set_key_is_used_by_the_probe_and_never_printed(tmp_path, monkeypatch):
    monkeypatch.setenv('HM_DOCTOR_KEY', SECRET)
    with Endpoint() as server:
        status, out = doctor_output('--settings', settings_file(tmp_path, server.url), '--profile', 'remote', '--probe',
                                    '--no-models', '--runs', tmp_path/'runs')
    assert server.requests == [('/v1/models', f'Bearer {SECRET}')]
    assert SECRET not in out and 'Zq81x' not in out
    checks = [line for line in out.splitlines() if 'profile remote' in line]
    assert checks[0].split()[0] == 'ok' and '1 of 1 set' in checks[0], out
    assert any('answers (HTTP 200)' in line and line.startswith('ok') for line in checks), out
    assert status == int(any(line.startswith('FAIL') for line in out.splitlines())), out


def test_endpoints_are_asked_only_with_probe(tmp_path, monkeypatch):
    monkeypatch.setenv('HM_DOCTOR_KEY', SECRET)
    with Endpoint() as server:
        checks = by_name(doctor_checks(['remote'], False, False, settings_file(tmp_path, server.url), tmp_path/'runs'))
    assert server.requests == [] and f'profile remote: {server.url}' not in checks


def test_a_missing_key_fails_a_named_profile_and_warns_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv('HM_DOCTOR_KEY', raising=False)
    settings = settings_file(tmp_path, 'http://127.0.0.1:9/v1')
    named = by_name(doctor_checks(['remote'], False, False, settings, tmp_path/'runs'))['profile remote: keys']
    assert (named.mark, named.detail) == ('FAIL', '0 of 1 set; not set: HM_DOCTOR_KEY')
    assert named.fix.startswith('export HM_DOCTOR_KEY=')
    assert by_name(doctor_checks(None, False, False, settings, tmp_path/'runs'))['profile remote: keys'].mark == 'warn'
    status, out = doctor_output('--settings', settings, '--profile', 'remote', '--no-models', '--runs', tmp_path/'runs')
    assert status == 1 and 'fix: export HM_DOCTOR_KEY=' in out
    assert 'problem' in out.rstrip().splitlines()[-1] and 'to fix' in out.rstrip().splitlines()[-1], out


def test_probe_tells_a_refused_key_from_no_answer_within_its_timeout():
    with Endpoint(401) as server: assert probe(server.url, SECRET) == (False, 'answers, but refuses the key (HTTP 401)')
    with Endpoint(404) as server: assert probe(server.url) == (True, 'answers (HTTP 404)')
    closed = Endpoint()
    with closed: url = closed.url
    started = time.monotonic()
    ok, how = probe(url, timeout=1.0)
    assert not ok and how.startswith('no answer') and time.monotonic() - started < 5


def test_cpu_features_come_from_cpuinfo():
    old = 'processor : 0\nflags : fpu sse sse2 avx\n'
    assert cpu_flags(old) == {'fpu', 'sse', 'sse2', 'avx'}
    check = check_cpu(cpu_flags(old), local=True)
    assert check.mark == 'FAIL' and 'missing AVX2, FMA, F16C, BMI2' in check.detail
    assert check_cpu(cpu_flags(old), local=False).mark == 'warn'
    assert cpu_flags('processor : 0\n') is None


def test_a_damaged_joined_model_is_found_and_joined_again(tmp_path, monkeypatch):
    monkeypatch.setenv('HIVEMIND_CACHE', str(tmp_path))
    packaged_gguf.cache_clear()
    try:
        (tmp_path/'gemma-3-270m-q4_k_m.gguf').write_bytes(b'GGUF not the model')
        check = check_model('gemma3-270m', verify=True, local=True)
        assert check.ok and 'sha256 matches' in check.detail, check
        assert sha256_file(tmp_path/'gemma-3-270m-q4_k_m.gguf') == GEMMA_SHA256
    finally: packaged_gguf.cache_clear()


def test_a_missing_model_package_fails_only_where_llama_cpp_is_installed(monkeypatch):
    monkeypatch.setitem(doctor.PACKAGED_MODELS, 'smollm2', ('no_such_model_package',))
    assert check_model('smollm2', verify=False, local=True).mark == 'FAIL'
    assert check_model('smollm2', verify=False, local=False).mark == 'warn'


def test_without_llama_cpp_local_profiles_need_the_extra_unless_their_run_is_unpacked(tmp_path, monkeypatch):
    from test_pack import packed_smoke
    from hivemind.pack import unpack
    monkeypatch.setattr(doctor, 'has_llama_cpp', lambda: False)
    checks = by_name(doctor_checks(['smoke'], runs_root=tmp_path/'runs', verify_models=False))
    local = checks['profile smoke: local models']
    assert local.mark == 'FAIL' and 'artificial-hivemind[local]' in local.fix
    assert checks['compiler'].needed is False and checks['local extra'].ok
    assert checks['model smollm2'].detail.startswith('installed; not joined')
    unpack(packed_smoke(tmp_path/'teacher'), tmp_path/'runs', tmp_path/'figures')
    checks = doctor_checks(['smoke'], runs_root=tmp_path/'runs', figures_root=tmp_path/'figures', verify_models=False)
    local = by_name(checks)['profile smoke: local models']
    assert local.ok and 'the run is sampled' in local.detail


def test_the_summary_counts_failures_and_warnings():
    checks = [Check('a', True, 'fine'), Check('b', False, 'broken', 'mend it'), Check('c', False, 'meh', needed=False)]
    text = format_checks(checks)
    assert 'FAIL  b  broken\n      fix: mend it' in text and text.endswith('1 problem to fix; 1 warning')
