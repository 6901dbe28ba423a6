"The whole pipeline through the CLI: the smoke profile end to end, a rerun that does nothing, and no API key in any file."
from conftest import hivemind  # and the session-scoped `smoke` fixture: one smoke run shared with test_site.py
from fault_server import FaultServer
from test_sampling import write_settings
from hivemind.runs import ResponseStore, load_embeddings


def test_smoke_profile_runs_end_to_end(smoke):
    folder, first = smoke
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    run_dir = folder/'runs'/'smoke'
    responses = ResponseStore(run_dir/'responses.jsonl').frame()
    assert len(responses) == 3 * 2 * 2 * 3 and set(responses.model) == {'smollm2', 'qwen-coder'}
    ids, vectors = load_embeddings(run_dir/'embeddings'/'minilm.npz')
    assert sorted(ids) == sorted(responses.id) and vectors.shape == (36, 384)
    figures = {p.name for p in (folder/'figures'/'smoke').iterdir()}
    for stem in ['fig04_intra_model_histogram', 'fig05_intra_model_histogram_min_p', 'fig06_inter_model_similarity', 'fig08_neighbour_models', 'fig02_taxonomy_shares']:
        assert {f'{stem}.pdf', f'{stem}.png'} <= figures, f'{stem} missing from {sorted(figures)}'
    assert any(name.startswith('fig09') and 'simulated' in name for name in figures)
    tables = {p.name for p in (run_dir/'tables').iterdir()}  # every table in the run folder, as the README says
    assert {'table23_absolute_similar_quality_simulated.csv', 'table19_similar_quality_alt_methods_simulated.csv',
            'fig10_fig11_rho_intervals_simulated.csv', 'table06_intra_model_histogram_top_p.csv'} <= tables, sorted(tables)
    assert [name for name in figures if name.startswith('table')] == []
    assert {'absolute.jsonl', 'pairwise.jsonl'} <= {p.name for p in (run_dir/'human').iterdir()}
    assert (run_dir/'scores'/'scores.csv').exists()
    assert str(run_dir) in first.stdout


def test_a_second_run_executes_nothing(smoke):
    folder, _ = smoke
    second = hivemind('run', '--profile', 'smoke', '--runs', str(folder/'runs'), '--figures', str(folder/'figures'))
    assert second.returncode == 0, second.stderr[-3000:]
    assert '0 steps ran' in second.stdout


def test_no_api_key_lands_in_runs_or_figures(tmp_path):
    secret = 'sk-live-' + 'h7Kq2' * 8
    with FaultServer(faults=('429', 'garbage', '500'), fault_every=3) as server:
        settings = write_settings(tmp_path, server.url, key_env='HIVEMIND_E2E_KEY')
        for step in ['01', '02']:
            result = hivemind('run', '--profile', 'fake', '--settings', str(settings), '--only', step,
                              '--runs', str(tmp_path/'runs'), '--figures', str(tmp_path/'figures'), env={'HIVEMIND_E2E_KEY': secret})
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert server.log and all(entry['authorization'] == f'Bearer {secret}' for entry in server.log)
    assert len(ResponseStore(tmp_path/'runs'/'fake'/'responses.jsonl').done_ids()) == 12
    written = [p for p in (tmp_path/'runs').rglob('*') if p.is_file()] + [p for p in (tmp_path/'figures').rglob('*') if p.is_file()]
    assert any(p.suffix == '.ipynb' for p in written)
    assert [p for p in written if secret.encode() in p.read_bytes()] == []
