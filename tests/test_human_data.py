"Loaders of the released human ratings (on generated local copies of the full size) and the simulated panel"
import warnings
import numpy as np
import pandas as pd
import pytest
from hivemind.human_data import (load_human, check_human, HumanDataError, simulated_items, write_items, read_items, Panel,
                                 ITEM_COLUMNS, human_items)


def released_absolute(rows=750, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({'user_query': [f'q{i // 15}' for i in range(rows)], 'response': [f'r{i}' for i in range(rows)],
                         'human_labels': [list(rng.integers(1, 6, int(rng.integers(23, 27)))) for _ in range(rows)],
                         'form_id': range(rows)})


def released_pairwise(rows=500, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({'user_query': [f'q{i // 10}' for i in range(rows)], 'response_1': [f'a{i}' for i in range(rows)],
                         'response_2': [f'b{i}' for i in range(rows)], 'human_labels': [list(rng.integers(-2, 3, 25)) for _ in range(rows)]})


def test_local_copies_load_as_items(tmp_path):
    released_absolute().to_parquet(tmp_path/'infinite-chats-human-absolute.parquet')
    released_pairwise().to_json(tmp_path/'infinite-chats-human-pairwise.jsonl', orient='records', lines=True)
    absolute, pairwise = human_items(str(tmp_path))
    assert len(absolute) == 750 and len(pairwise) == 500 and not absolute.simulated.any()
    assert list(pairwise.columns[:6]) == ITEM_COLUMNS['pairwise'] and 'form_id' in absolute
    assert all(isinstance(l, int) for l in absolute.labels[0])


def test_errors_name_the_source_column_and_row(tmp_path):
    path = tmp_path/'absolute.parquet'
    released_absolute().rename(columns={'human_labels': 'labels'}).to_parquet(path)
    with pytest.raises(HumanDataError, match=r"absolute.parquet: column 'human_labels' expected but missing; columns found: \['user_query'"):
        load_human('absolute', str(path))
    bad = released_absolute(); bad.at[17, 'human_labels'] = [1, 2, 0]
    with pytest.raises(HumanDataError, match='mine: row 17: human_labels holds 0'):
        check_human(bad, 'absolute', 'mine')
    with pytest.raises(HumanDataError, match='749 rows, expected 750'):
        check_human(released_absolute(749), 'absolute', 'mine')
    with pytest.raises(HumanDataError, match='row 3: human_labels holds 3'):
        check_human(released_pairwise().assign(human_labels=[[0]] * 3 + [[3]] + [[0]] * 496), 'pairwise', 'mine')


def test_label_count_warning():
    short = released_absolute(); short.at[5, 'human_labels'] = [3] * 12
    with pytest.warns(UserWarning, match='first: row 5, 12 labels'):
        check_human(short, 'absolute', 'mine')


def test_simulated_panel_is_seeded_labelled_and_round_trips(tmp_path):
    responses = pd.DataFrame({'id': [f'm/t/p{i % 3}/{i}' for i in range(18)], 'prompt': [f'prompt {i % 3}' for i in range(18)],
                              'text': [('word ' * (i + 2)) + '\n- x' * (i % 4) for i in range(18)]})
    absolute, pairwise = simulated_items(responses, seed=11)
    assert absolute.simulated.all() and pairwise.simulated.all() and len(absolute) == 18 and len(pairwise) == 18
    assert (pairwise.prompt == [responses.set_index('id').prompt[i] for i in pairwise.response_id_2]).all()  # same prompt
    assert simulated_items(responses, seed=11)[0].labels.tolist() == absolute.labels.tolist()
    assert simulated_items(responses, seed=12)[0].labels.tolist() != absolute.labels.tolist()
    again = read_items(write_items(pairwise, tmp_path/'pairwise.jsonl'), 'pairwise')
    assert again.labels.tolist() == pairwise.labels.tolist() and again.simulated.all()


def test_polarising_items_have_higher_entropy_on_average():
    from hivemind.disagreement import shannon_entropy, label_counts, ABSOLUTE_CLASSES
    rng = np.random.default_rng(2)
    responses = pd.DataFrame({'id': [f'r{i:03d}' for i in range(400)], 'prompt': [f'p{i % 10}' for i in range(400)],
                              'text': [' '.join(rng.choice([f'w{j}' for j in range(200)], int(rng.integers(3, 60)))) for _ in range(400)]})
    absolute, _ = simulated_items(responses, seed=1, panel=Panel())
    entropy = shannon_entropy(label_counts(list(absolute.labels), ABSOLUTE_CLASSES))
    assert entropy[absolute.polarising].mean() > entropy[~absolute.polarising].mean() + 0.2


# ---------------------------------------------------------------- the released schema, tolerated (issue 9, item 8)
# The authors' compile scripts write exactly these columns; a rating left blank in the source sheet is NaN in
# human_labels (and an empty cell in human_labels_raw). Blanks below: row 3 loses 1 label, row 10 loses 8 (17 left,
# below 20), row 749 loses 2: 11 blanks in 3 rows.
ABSOLUTE_COLUMNS = ['user_query', 'response', 'human_labels', 'human_labels_raw', 'form_id', 'question_id']
PAIRWISE_COLUMNS = ['user_query', 'response_1', 'response_2', 'human_labels', 'human_labels_raw', 'form_id',
                    'question_id']
BLANKS = {3: [0], 10: list(range(8)), 749: [5, 24]}
RAW = {-2: '1 much better', -1: '1 better', 0: 'similar', 1: '2 better', 2: '2 much better'}


def real_absolute(blanks=BLANKS, seed=3):
    rng = np.random.default_rng(seed)
    labels = [rng.integers(1, 6, 25).astype(float) for _ in range(750)]
    for row, positions in blanks.items(): labels[row][positions] = np.nan
    raw = [['' if np.isnan(label) else str(int(label)) for label in item] for item in labels]
    return pd.DataFrame({'user_query': [f'q{i // 15}' for i in range(750)], 'response': [f'r{i}' for i in range(750)],
                         'human_labels': [list(item) for item in labels], 'human_labels_raw': raw,
                         'form_id': [i // 15 + 1 for i in range(750)],
                         'question_id': [f'Q{i % 15 + 1}' for i in range(750)]})


def real_pairwise(seed=4):
    rng = np.random.default_rng(seed)
    labels = [[int(label) for label in rng.integers(-2, 3, 25)] for _ in range(500)]
    labels[7][3] = None   # a null inside an int list: arrives as NaN (or None) from parquet
    raw = [[RAW[label] if label is not None else '' for label in item] for item in labels]
    return pd.DataFrame({'user_query': [f'q{i // 10}' for i in range(500)], 'response_1': [f'a{i}' for i in range(500)],
                         'response_2': [f'b{i}' for i in range(500)], 'human_labels': labels, 'human_labels_raw': raw,
                         'form_id': [i // 10 + 1 for i in range(500)],
                         'question_id': [f'Q{i % 10 + 1}' for i in range(500)]})


def write_real(folder):
    real_absolute().to_parquet(folder/'infinite-chats-human-absolute.parquet')
    real_pairwise().to_parquet(folder/'infinite-chats-human-pairwise.parquet')
    assert list(pd.read_parquet(folder/'infinite-chats-human-absolute.parquet').columns) == ABSOLUTE_COLUMNS
    assert list(pd.read_parquet(folder/'infinite-chats-human-pairwise.parquet').columns) == PAIRWISE_COLUMNS
    return folder


def test_real_schema_with_blank_labels_loads_and_reports(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        absolute, pairwise = human_items(str(write_real(tmp_path)))
    messages = [str(w.message) for w in caught]
    source = real_absolute()
    assert len(absolute) == 750 and len(pairwise) == 500
    for row in (0, 3, 10, 749):   # the blanks are gone, every other label kept in order, as ints
        assert absolute.labels[row] == [int(v) for v in source.human_labels[row] if not np.isnan(v)]
    assert [len(absolute.labels[row]) for row in (0, 3, 10, 749)] == [25, 24, 17, 23]
    assert all(type(label) is int for item in absolute.labels for label in item)
    assert absolute.form_id.tolist() == source.form_id.tolist() and absolute.question_id[14] == 'Q15'
    report = absolute.attrs['load_report']
    counts = (report.items, report.labels, report.blank_labels, report.items_with_blanks, report.items_below)
    assert counts == (750, 750 * 25 - 11, 11, 3, 1)
    assert any('11 blank or NaN label(s) dropped from 3 row(s) (first: row 3, 1 blank)' in m for m in messages)
    assert any('1 row(s) have fewer than 20 or more than 30 labels (first: row 10, 17 labels)' in m for m in messages)
    assert pairwise.labels[7] == [v for v in real_pairwise().human_labels[7] if v is not None]
    assert len(pairwise.labels[7]) == 24
    assert pairwise.attrs['load_report'].blank_labels == 1 and pairwise.attrs['load_report'].items_below == 0
    assert 'infinite-chats-human-absolute.parquet: 750 absolute items, 18739 labels; 11 blank' in str(report)
    absolute.to_parquet(tmp_path/'items.parquet')   # the report in attrs does not stop the items being saved


def test_valid_real_schema_loads_as_before(tmp_path):
    "Without blanks the extra columns change nothing: the same items as from the minimal columns, no new warning"
    full = real_absolute(blanks={})
    full.to_parquet(tmp_path/'full.parquet')
    full[['user_query', 'response', 'human_labels']].to_parquet(tmp_path/'minimal.parquet')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        items = load_human('absolute', str(tmp_path/'full.parquet'))
    minimal = load_human('absolute', str(tmp_path/'minimal.parquet'))
    assert items[minimal.columns].equals(minimal) and items.attrs['load_report'].blank_labels == 0


def test_blank_strings_and_all_blank_rows(tmp_path):
    "JSON copies can hold '' for a blank; a row whose labels are all blank is an error naming it"
    rows = released_absolute()
    rows.at[2, 'human_labels'] = [3, '', ' ', 4] + [5] * 21
    rows.to_json(tmp_path/'absolute.jsonl', orient='records', lines=True)
    dropped = r'2 blank or NaN label\(s\) dropped from 1 row\(s\) \(first: row 2, 2 blank\)'
    with pytest.warns(UserWarning, match=dropped):
        items = load_human('absolute', str(tmp_path/'absolute.jsonl'))
    assert items.labels[2] == [3, 4] + [5] * 21 and items.item_id[10] == 'absolute-0010'
    rows.at[9, 'human_labels'] = [None] * 25
    rows.to_json(tmp_path/'absolute.jsonl', orient='records', lines=True)
    with pytest.raises(HumanDataError, match='absolute.jsonl: row 9: every one of its 25 labels is blank; 1 such row'):
        load_human('absolute', str(tmp_path/'absolute.jsonl'))
