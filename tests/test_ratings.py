"""Ratings of one's own (issue 13, item 3): the form driven as a person would, by two raters, and their ratings
through the human-data loader into the items of Figs 7, 9, 10 and 11"""
import json
import warnings
from pathlib import Path
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hivemind.runs import open_run
from hivemind.human_data import HumanDataError, human_data_note, human_items, read_items, write_items
from hivemind.disagreement import item_statistics
from hivemind.disagreement_figures import entropy_figure
from hivemind.calibration import SETTINGS, correlations
from hivemind.calibration_figures import setting_figure
from hivemind.scorers import read_scores
from hivemind.ratings import blank_sheet, import_sheet, rating_counts, rating_form, read_sheet

ABSOLUTE, PAIRWISE = 12, 6


@pytest.fixture(scope='module')
def run():
    return open_run('smoke')


def first_rater(task) -> int:
    "r01 likes long answers and answer A"
    if task['kind'] == 'absolute': return int(np.clip(len(task['response'].split()) // 3, 1, 5))
    return 2 if len(task['response_1']) >= len(task['response_2']) else -1


def second_rater(task) -> int:
    "r02 agrees with r01 on every other item and is one step harsher on the rest"
    label = first_rater(task)
    if task.name % 2 == 0: return label
    return max(label - 1, 1) if task['kind'] == 'absolute' else max(label - 1, -2)


def rate(form, code, judge, stop=None):
    "Type the code, start, then choose and save until done (or `stop` items): what a person does; the labels given"
    form.code.value = code
    form.start.click()
    given = {}
    while form.current is not None and (stop is None or len(given) < stop):
        task = form.current
        label = judge(form.tasks.set_index('item_id').loc[task.item_id].rename(int(task.name)))
        form.choices[task['kind']].value = label
        form.save.click()
        given[task.item_id] = label
    return given


@pytest.fixture(scope='module')
def rated(run, tmp_path_factory):
    "Two raters through the widget, the second in two sittings (it resumes): the folder and the labels each gave"
    folder = tmp_path_factory.mktemp('class')/'ratings'
    first = rate(rating_form(run, folder, ABSOLUTE, PAIRWISE), 'r01', first_rater)
    second = rate(rating_form(run, folder, ABSOLUTE, PAIRWISE), 'R02', second_rater, stop=5)
    second |= rate(rating_form(run, folder, ABSOLUTE, PAIRWISE), 'r02', second_rater)
    return folder, first, second


@pytest.fixture(scope='module')
def items(rated):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # two labels per item, not 20 to 30: check_human says so
        absolute, pairwise = human_items(f'ratings:{rated[0]}')
    return {'absolute': absolute, 'pairwise': pairwise}


def test_the_form_saves_one_file_per_rater_and_resumes(rated):
    folder, first, second = rated
    assert sorted(p.name for p in folder.iterdir()) == ['r01.jsonl', 'r02.jsonl']
    assert len(first) == len(second) == ABSOLUTE + PAIRWISE
    assert list(first) == list(second)  # the second sitting went on where the first stopped, same order
    assert len((folder/'r02.jsonl').read_text().splitlines()) == ABSOLUTE + PAIRWISE  # nothing rated twice
    assert rating_counts(folder).to_dict('index') == {'r01': {'absolute': ABSOLUTE, 'pairwise': PAIRWISE},
                                                      'r02': {'absolute': ABSOLUTE, 'pairwise': PAIRWISE}}


def test_a_finished_rater_is_told_so(run, rated):
    form = rating_form(run, rated[0], ABSOLUTE, PAIRWISE)
    form.code.value = 'r01'
    form.start.click()
    assert form.current is None and form.save.disabled and 'All done' in form.status.value


@pytest.mark.parametrize('typed', ['alice', 'Jane Doe', 'jane.doe@example.org', 'anna1990', ''])
def test_the_form_refuses_names_and_emails_and_saves_nothing(run, tmp_path, typed):
    form = rating_form(run, tmp_path, ABSOLUTE, PAIRWISE)
    form.code.value = typed
    form.start.click()
    assert 'rater code refused' in form.status.value and form.current is None
    form.save.click()
    assert list(tmp_path.iterdir()) == []
    if typed: assert typed.lower() not in form.status.value.lower()  # the refused text is not echoed


def test_ratings_become_human_items_with_the_labels_given(rated, items):
    _, first, second = rated
    for kind, count in (('absolute', ABSOLUTE), ('pairwise', PAIRWISE)):
        table = items[kind]
        assert len(table) == count and not table.simulated.any()
        given = {item: [first[item], second[item]] for item in table.item_id}
        assert dict(zip(table.item_id, table.labels)) == given
        assert table.raters.map(tuple).unique().tolist() == [('r01', 'r02')]
        assert table.attrs['load_report'].raters == 2
        assert human_data_note(table) == ' (2 raters)'
    prompt_of = lambda ids: ids.str.split('/').str[2]
    assert prompt_of(items['pairwise'].response_id_1).eq(prompt_of(items['pairwise'].response_id_2)).all()  # one prompt


def test_the_items_feed_figs_7_and_9(items):
    for kind in ('absolute', 'pairwise'):
        statistics = item_statistics(items[kind], kind)
        agreed = items[kind].labels.map(lambda labels: labels[0] == labels[1])
        assert np.allclose(statistics.entropy[agreed], 0) and np.allclose(statistics.entropy[~agreed], 1)
        fig, data = entropy_figure(items[kind], kind, [0, 1], title=f'entropy{human_data_note(items[kind])}')
        histogram = data[data.panel == 'histogram']
        assert histogram['items'].sum() == len(items[kind])  # every item in Fig 7/9's histogram
        assert histogram['items'].iloc[-1] == (~agreed).sum() and histogram['items'].iloc[0] == agreed.sum()
        plt.close(fig)


def test_the_items_feed_figs_10_and_11_through_the_items_files(run, items):
    scores = read_scores(run.scores_path)
    for kind in ('absolute', 'pairwise'): write_items(items[kind], run.human_items_path(kind))
    read = {kind: read_items(run.human_items_path(kind), kind) for kind in ('absolute', 'pairwise')}
    assert not read['absolute'].simulated.any() and human_data_note(read['pairwise']) == ' (2 raters)'
    for setting, spec in SETTINGS.items():
        table = correlations(read[spec['kind']], scores, setting)
        full = table[table.subset == 'full']
        assert len(full) and full.rho.notna().all(), setting
        fig, _ = setting_figure(table, setting, ours='ours (2 raters)')
        plt.close(fig)


def test_a_bad_rating_in_a_file_names_file_line_and_field(rated, tmp_path):
    for path in rated[0].iterdir(): (tmp_path/path.name).write_text(path.read_text())
    lines = (tmp_path/'r02.jsonl').read_text().splitlines()
    lines[3] = json.dumps(json.loads(lines[3]) | {'label': 7})
    (tmp_path/'r02.jsonl').write_text('\n'.join(lines) + '\n')
    with pytest.raises(HumanDataError, match=r"r02\.jsonl: line 4: field 'label' is 7"):
        human_items(f'ratings:{tmp_path}')
    (tmp_path/'r02.jsonl').rename(tmp_path/'maria.jsonl')
    with pytest.raises(HumanDataError, match=r'maria\.jsonl: rater code refused'):
        human_items(f'ratings:{tmp_path}')


def test_the_sheet_round_trip_for_raters_outside_jupyter(run, rated, tmp_path):
    form = rating_form(run, rated[0], ABSOLUTE, PAIRWISE)
    sheet = blank_sheet(form.tasks, tmp_path/'r03.csv')
    filled = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    assert filled.label.eq('').all() and read_sheet(sheet) == []
    filled['label'] = [str(first_rater(form.tasks.iloc[i].rename(i))) for i in range(len(filled))]
    filled.loc[len(filled) - 1, 'label'] = ''  # one left for later
    filled.to_csv(sheet, index=False)
    target = import_sheet(sheet, rated[0])
    assert target.name == 'r03.jsonl'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        absolute, pairwise = human_items(f'ratings:{rated[0]}')
    assert absolute.attrs['load_report'].raters == 3
    assert sum(map(len, absolute.labels)) + sum(map(len, pairwise.labels)) == 3 * (ABSOLUTE + PAIRWISE) - 1
    target.unlink()


@pytest.mark.parametrize('column, value, message', [
    ('label', '6', "row 2: field 'label' is '6'"),
    ('label', '3.5', "row 2: field 'label' is '3.5'"),
    ('kind', 'stars', "row 2: field 'kind' is 'stars'"),
    ('prompt', ' ', "row 2: field 'prompt' is missing or empty"),
])
def test_a_bad_sheet_names_file_row_and_field_and_imports_nothing(run, tmp_path, column, value, message):
    form = rating_form(run, tmp_path/'ratings', ABSOLUTE, PAIRWISE)
    sheet = blank_sheet(form.tasks[form.tasks.kind == 'absolute'], tmp_path/'r04.tsv')
    filled = pd.read_csv(sheet, sep='\t', dtype=str, keep_default_na=False).assign(label='3')
    filled.loc[0, column] = value
    filled.to_csv(sheet, sep='\t', index=False)
    with pytest.raises(HumanDataError, match='r04.tsv: ' + message.replace('.', r'\.')):
        import_sheet(sheet, tmp_path/'ratings')
    assert not (tmp_path/'ratings'/'r04.jsonl').exists()
