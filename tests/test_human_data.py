"Loaders of the released human ratings (on generated local copies of the full size) and the simulated panel"
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
