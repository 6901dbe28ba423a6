"Every prompt loader path and every error it reports (the hub is stood in for by local files)"
import json
import pandas as pd
import pytest
from hivemind.prompts import (EVAL_SET, LEAF_LABELS, PROMPT_COLUMNS, PromptError, builtin_prompts, load_prompts,
                              select_prompts)


def eval_frame(rows=100):
    "A stand-in for INFINITY-CHAT100: `rows` queries"
    return pd.DataFrame({'query': [f"Open-ended question number {i}?" for i in range(rows)]})


def write_jsonl(path, records):
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))
    return path


# ------------------------------------------------------------------ built-in set

def test_builtin_set_covers_every_leaf_and_starts_with_the_smoke_prompts():
    prompts = builtin_prompts()
    assert list(prompts.columns) == PROMPT_COLUMNS
    assert 26 <= len(prompts) <= 30 and prompts.prompt_id.is_unique
    assert list(prompts.prompt[:3]) == ["Write a metaphor about time.", "Name one meaning of life.",
                                        "Generate a joke about electric vehicles."]
    assert list(prompts.prompt_id[:3]) == ['time-metaphor', 'meaning-of-life', 'ev-joke']
    counts = prompts.categories.explode().value_counts()
    assert set(counts.index) == set(LEAF_LABELS.values()) and len(counts) == 17
    assert (counts >= 2).sum() >= 12


def test_builtin_holds_the_papers_pca_prompts():
    chosen = select_prompts(builtin_prompts(), ['toad-story', 'sisu-cinema'])
    assert list(chosen.prompt) == ["Write a short story about a colorful toad goes on an adventure.",
                                   "Provide a few sentences on Sisu Cinema Robotics."]


def test_limit_keeps_the_first_prompts():
    assert list(load_prompts('builtin', limit=3).prompt_id) == ['time-metaphor', 'meaning-of-life', 'ev-joke']
    assert len(load_prompts('builtin', limit=0)) == len(builtin_prompts())
    with pytest.raises(PromptError, match='prompt limit'): load_prompts('builtin', limit=-1)


# ------------------------------------------------------------------ user files

def test_jsonl_with_ids_and_categories(tmp_path):
    path = write_jsonl(tmp_path/'own.jsonl', [{'prompt_id': 'a', 'prompt': ' Say hi. ', 'categories': ['X', 'Y']},
                                              {'prompt_id': 'b', 'prompt': 'Say bye.'}])
    prompts = load_prompts(str(path))
    assert list(prompts.prompt_id) == ['a', 'b'] and list(prompts.prompt) == ['Say hi.', 'Say bye.']
    assert list(prompts.categories) == [['X', 'Y'], []]


def test_csv_with_query_column_gets_positional_ids(tmp_path):
    path = tmp_path/'own.csv'
    path.write_text('query,categories\n"Name a colour.",Creative Content Generation; Ideation and Brainstorming\nName a bird.,\n')
    prompts = load_prompts(str(path))
    assert list(prompts.prompt_id) == ['q000', 'q001']
    assert prompts.categories[0] == ['Creative Content Generation', 'Ideation and Brainstorming'] and prompts.categories[1] == []



def test_csv_and_jsonl_with_a_byte_order_mark_keep_their_first_column(tmp_path):
    csv_text = '\ufeffprompt_id,prompt\nfirst,Name a colour.\nsecond,Name a bird.\n'
    (tmp_path/'bom.csv').write_bytes(csv_text.encode('utf-8'))
    assert list(load_prompts(str(tmp_path/'bom.csv')).prompt_id) == ['first', 'second']
    line = json.dumps({'prompt_id': 'j', 'prompt': 'Hi?'})
    (tmp_path/'bom.jsonl').write_bytes(('\ufeff' + line + '\n').encode('utf-8'))
    assert list(load_prompts(str(tmp_path/'bom.jsonl')).prompt_id) == ['j']


def test_a_file_that_is_not_utf8_names_the_file_and_line(tmp_path):
    (tmp_path/'latin.csv').write_bytes('prompt_id,prompt\na,Name a colour.\nb,Name a café.\n'.encode('latin-1'))
    with pytest.raises(PromptError, match=r'latin\.csv:3: not UTF-8 text'): load_prompts(str(tmp_path/'latin.csv'))
    (tmp_path/'latin.jsonl').write_bytes('{"prompt": "Un café ?"}\n'.encode('latin-1'))
    with pytest.raises(PromptError, match=r'latin\.jsonl:1: not UTF-8 text'): load_prompts(str(tmp_path/'latin.jsonl'))

def test_parquet_file(tmp_path):
    eval_frame(5).to_parquet(tmp_path/'eval.parquet')
    prompts = load_prompts(str(tmp_path/'eval.parquet'), limit=2)
    assert list(prompts.prompt_id) == ['q000', 'q001'] and prompts.prompt[1] == "Open-ended question number 1?"


def test_folder_of_parquet_shards_read_in_name_order(tmp_path):
    (tmp_path/'data').mkdir()
    eval_frame(100)[50:].to_parquet(tmp_path/'data'/'train-00001-of-00002.parquet')
    eval_frame(100)[:50].to_parquet(tmp_path/'data'/'train-00000-of-00002.parquet')
    prompts = load_prompts(str(tmp_path))
    assert len(prompts) == 100 and prompts.prompt_id[99] == 'q099' and prompts.prompt[99].endswith('99?')


def test_saved_dataset_folder_and_dataset_dict(tmp_path):
    datasets = pytest.importorskip('datasets')
    datasets.Dataset.from_pandas(eval_frame(4)).save_to_disk(str(tmp_path/'saved'))
    assert list(load_prompts(str(tmp_path/'saved')).prompt_id) == ['q000', 'q001', 'q002', 'q003']
    datasets.DatasetDict(train=datasets.Dataset.from_pandas(eval_frame(2))).save_to_disk(str(tmp_path/'dict'))
    assert len(load_prompts(str(tmp_path/'dict'))) == 2
    datasets.DatasetDict(test=datasets.Dataset.from_pandas(eval_frame(2))).save_to_disk(str(tmp_path/'nosplit'))
    with pytest.raises(PromptError, match="no 'train' split; splits found: test"): load_prompts(str(tmp_path/'nosplit'))


def test_relative_path_is_found_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_jsonl(tmp_path/'here.jsonl', [{'prompt': 'Hello?'}])
    assert load_prompts('here.jsonl').prompt[0] == 'Hello?'
    with pytest.raises(PromptError, match='no such file or folder'): load_prompts('nowhere.jsonl')


# ------------------------------------------------------------------ errors name the file and line

def test_bad_json_line_is_named(tmp_path):
    path = tmp_path/'bad.jsonl'
    path.write_text('{"prompt": "One?"}\n{"prompt": "Two?"\n')
    with pytest.raises(PromptError, match=r'bad\.jsonl:2: not valid JSON'): load_prompts(str(path))


def test_json_line_that_is_not_an_object(tmp_path):
    path = tmp_path/'list.jsonl'
    path.write_text('{"prompt": "One?"}\n["Two?"]\n')
    with pytest.raises(PromptError, match=r'list\.jsonl:2: expected a JSON object, found list'): load_prompts(str(path))


def test_missing_column_names_the_columns_found(tmp_path):
    path = write_jsonl(tmp_path/'cols.jsonl', [{'text': 'One?', 'id': 1}])
    with pytest.raises(PromptError, match=r"cols\.jsonl: no 'prompt' or 'query' column; columns found: id, text"):
        load_prompts(str(path))


def test_empty_prompt_names_the_line(tmp_path):
    path = tmp_path/'empty.csv'
    path.write_text('prompt\nOne?\n"  "\n')
    with pytest.raises(PromptError, match=r'empty\.csv:3: empty prompt'): load_prompts(str(path))
    write_jsonl(tmp_path/'missing.jsonl', [{'prompt': 'One?'}, {'query': 'Two?'}])
    with pytest.raises(PromptError, match=r'missing\.jsonl:2: empty prompt'): load_prompts(str(tmp_path/'missing.jsonl'))


def test_empty_prompt_in_parquet_names_the_row(tmp_path):
    pd.DataFrame({'prompt': ['One?', None]}).to_parquet(tmp_path/'gap.parquet')
    with pytest.raises(PromptError, match=r'gap\.parquet: row 2: empty prompt'): load_prompts(str(tmp_path/'gap.parquet'))


def test_prompt_that_is_not_text(tmp_path):
    path = write_jsonl(tmp_path/'num.jsonl', [{'prompt': 42}])
    with pytest.raises(PromptError, match=r'num\.jsonl:1: the prompt is not text'): load_prompts(str(path))


def test_duplicate_and_missing_ids_name_both_lines(tmp_path):
    path = write_jsonl(tmp_path/'dup.jsonl', [{'prompt_id': 'x', 'prompt': 'A?'}, {'prompt_id': 'y', 'prompt': 'B?'},
                                              {'prompt_id': 'x', 'prompt': 'C?'}])
    with pytest.raises(PromptError, match=r"dup\.jsonl:3: duplicate prompt_id 'x' \(first at .*dup\.jsonl:1\)"):
        load_prompts(str(path))
    path = write_jsonl(tmp_path/'noid.jsonl', [{'prompt_id': 'x', 'prompt': 'A?'}, {'prompt': 'B?'}])
    with pytest.raises(PromptError, match=r'noid\.jsonl:2: missing prompt_id'): load_prompts(str(path))


def test_bad_categories(tmp_path):
    path = write_jsonl(tmp_path/'cats.jsonl', [{'prompt': 'A?', 'categories': 'x'}, {'prompt': 'B?', 'categories': [1]}])
    with pytest.raises(PromptError, match=r'cats\.jsonl:2: categories must be a list of strings'): load_prompts(str(path))


def test_empty_file_and_unsupported_type_and_empty_folder(tmp_path):
    (tmp_path/'none.jsonl').write_text('\n')
    with pytest.raises(PromptError, match=r'none\.jsonl: no prompts'): load_prompts(str(tmp_path/'none.jsonl'))
    (tmp_path/'p.txt').write_text('Hello?\n')
    with pytest.raises(PromptError, match=r'p\.txt: unknown format'): load_prompts(str(tmp_path/'p.txt'))
    (tmp_path/'blank').mkdir()
    with pytest.raises(PromptError, match=r'blank: no saved dataset and no'): load_prompts(str(tmp_path/'blank'))


# ------------------------------------------------------------------ the hub, stood in for by a local dataset

@pytest.fixture
def fake_hub(monkeypatch):
    "Make `datasets.load_dataset` serve local frames by name; returns the dict to fill"
    datasets = pytest.importorskip('datasets')
    served, calls = {}, []
    def load_dataset(name, split):
        calls.append((name, split))
        if name not in served: raise ConnectionError(f"Couldn't reach '{name}' on the Hub (LocalEntryNotFoundError)")
        return datasets.Dataset.from_pandas(served[name])
    monkeypatch.setattr(datasets, 'load_dataset', load_dataset)
    served['calls'] = calls
    return served


def test_hub_eval_set_gets_ids_in_row_order(fake_hub):
    fake_hub[EVAL_SET] = eval_frame(100)
    prompts = load_prompts(f'hf:{EVAL_SET}', limit=3)
    assert fake_hub['calls'] == [(EVAL_SET, 'train')]
    assert list(prompts.prompt_id) == ['q000', 'q001', 'q002'] and prompts.prompt[2] == "Open-ended question number 2?"
    assert list(load_prompts(f'hf:{EVAL_SET}').prompt_id)[-1] == 'q099'


def test_hub_eval_set_schema_errors_name_dataset_column_and_columns_found(fake_hub):
    fake_hub[EVAL_SET] = eval_frame(100).rename(columns={'query': 'question'})
    with pytest.raises(PromptError, match=rf"hf:{EVAL_SET}: expected column 'query'; columns found: question"):
        load_prompts(f'hf:{EVAL_SET}')
    fake_hub[EVAL_SET] = eval_frame(99)
    with pytest.raises(PromptError, match=rf"hf:{EVAL_SET}: expected 100 rows, found 99"): load_prompts(f'hf:{EVAL_SET}')


def test_other_hub_dataset_and_unreachable_hub(fake_hub):
    fake_hub['someone/prompts'] = pd.DataFrame({'prompt': ['A?', 'B?']})
    assert len(load_prompts('hf:someone/prompts')) == 2
    with pytest.raises(PromptError, match=r"hf:nobody/none: could not load the dataset .*save_to_disk"):
        load_prompts('hf:nobody/none')


# ------------------------------------------------------------------ choosing prompts

def test_select_by_id_or_text_ignoring_case_and_trailing_punctuation():
    prompts = builtin_prompts()
    chosen = select_prompts(prompts, ['ev-joke', 'Write a metaphor about time', 'name one meaning of life?!'])
    assert list(chosen.prompt_id) == ['ev-joke', 'time-metaphor', 'meaning-of-life']
    with pytest.raises(PromptError, match="prompt 'Write a sonnet' is neither a prompt_id nor a prompt"):
        select_prompts(prompts, ['ev-joke', 'Write a sonnet'])
