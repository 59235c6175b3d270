import pytest

from blasr.kaldi.formats.symbols import SymbolTable, read_symbol_table, write_symbol_table

PHONES_TXT = "<eps> 0\nSIL 1\nSIL_B 2\nAA_B 3\n\n#0 4\n#1 5\n"


def test_read_phones_table(tmp_path):
    (tmp_path / "phones.txt").write_text(PHONES_TXT)
    phones = read_symbol_table(tmp_path / "phones.txt")
    assert len(phones) == 6 and phones.id("AA_B") == 3 and phones.symbol(2) == "SIL_B"
    assert phones.to_ids(["SIL", "AA_B"]) == [1, 3] and phones.to_symbols([0, 5]) == ["<eps>", "#1"]
    assert phones.disambiguation_ids() == [4, 5]
    assert "SIL" in phones and 5 in phones and 6 not in phones and phones.next_id == 6
    with pytest.raises(KeyError, match=r"phones\.txt: no symbol 'ZZ'"):
        phones.id("ZZ")
    with pytest.raises(KeyError, match="no id 9"):
        phones.symbol(9)


def test_round_trip_and_building(tmp_path):
    words = SymbolTable.from_symbols(["<eps>", "hello", "world"])
    assert words.add("#0") == 3 and words.add("hello") == 1 and words.add("<s>", 10) == 10
    path = write_symbol_table(words, tmp_path / "words.txt")
    assert path.read_text() == "<eps> 0\nhello 1\nworld 2\n#0 3\n<s> 10\n"
    assert read_symbol_table(path).ids == words.ids


@pytest.mark.parametrize(
    "text, message",
    [
        ("a 0\nb 1\na 2\n", r"words\.txt:3: symbol 'a' appears twice \(first with id 0\)"),
        ("a 0\nb 0\n", r"words\.txt:2: id 0 is given to both 'a' and 'b'"),
        ("a 0\nb\n", r"words\.txt:2: expected 'symbol id', found 'b'"),
        ("a zero\n", r"words\.txt:1: id 'zero' of 'a' is not an integer"),
        ("a -1\n", r"words\.txt:1: symbol 'a' has negative id -1"),
    ],
)
def test_bad_tables(tmp_path, text, message):
    (tmp_path / "words.txt").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_symbol_table(tmp_path / "words.txt")
