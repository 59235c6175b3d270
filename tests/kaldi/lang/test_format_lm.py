"""utils/format_lm.sh: a copy of a lang directory with G.fst from an ARPA file; the source stays untouched."""

from blasr.format_lm import main
from blasr.kaldi.lang.format_lm import format_lm_dir
from blasr.kaldi.lang.lang_dir import load_lang
from blasr.kaldi.lang.prepare import prepare_lang
from tests.kaldi.tiny_asr import ARPA, LEXICON, SILENCE


def test_format_lm_copies_the_lang_and_adds_g(tmp_path):
    lang = prepare_lang(LEXICON, tmp_path / "lang", silence_phones=SILENCE, oov="<unk>")
    before = sorted(p.name for p in (tmp_path / "lang").iterdir())
    arpa = tmp_path / "lm.arpa"
    arpa.write_text(ARPA)
    out = format_lm_dir(tmp_path / "lang", arpa, tmp_path / "lang_test")
    assert (out / "G.fst").is_file() and not (tmp_path / "lang" / "G.fst").exists()
    assert sorted(p.name for p in (tmp_path / "lang").iterdir()) == before
    assert load_lang(out).words.id("yes") == lang.words.id("yes")
    stamp = (out / "G.fst").stat().st_mtime_ns
    format_lm_dir(tmp_path / "lang", arpa, tmp_path / "lang_test")  # same inputs: nothing rebuilt
    assert (out / "G.fst").stat().st_mtime_ns == stamp
    assert main([str(tmp_path / "lang"), str(tmp_path / "missing.arpa"), str(tmp_path / "x")]) == 1
