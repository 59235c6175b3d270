"""Kaldi's Switchboard / Fisher transcript normalisation and plain references from scoring annotations."""

import pytest

from blasr.data.text_norm import map_swbd_word, normalize_fisher_words, normalize_swbd_words, plain_reference


@pytest.mark.parametrize(
    ("word", "mapped"),
    [
        # the examples in the comments of Kaldi's swbd1_map_words.pl and swbd1_prepare_dict.sh
        ("[laughter-story]", "story"),
        ("[laughter-story]-", "story-"),
        ("[it'n/isn't]", "it'n"),
        ("-[an]y", "-y"),
        ("[an]y", "-y"),  # the leading '-' is optional on input
        ("ab[solute]-", "ab-"),
        ("ab[solute]", "ab-"),  # and the trailing one
        ("ex[specially]-/especially]", "ex"),
        ("{yuppiedom}", "yuppiedom"),
        ("them_1", "them"),
        ("them_1's", "them's"),
        ("-[a]b[out]-", "-b-"),
        ("[lem[guini]-/linguini]", "lem-"),
        ("ammu[n]it-", "ammn-t-"),  # Kaldi's own result (its comment promises ammu-it-)
        # left alone
        ("at&t", "at&t"),
        ("uh-huh", "uh-huh"),
        ("[noise]", "[noise]"),
        ("[vocalized-noise]", "[vocalized-noise]"),
        ("okay", "okay"),
    ],
)
def test_swbd_word_mapping_is_kaldis(word, mapped):
    assert map_swbd_word(word) == mapped


def test_swbd_transcript_drops_silence_and_asides_and_lower_cases():
    words = "[silence] <b_aside> Hi [LAUGHTER] there <E_ASIDE> th[e]- [SILENCE] them_1".split()
    assert normalize_swbd_words(words) == ["hi", "[laughter]", "there", "th-", "them"]
    assert normalize_swbd_words(["[silence]"]) == []  # Kaldi drops the utterance (NF > 1 fails)
    assert normalize_swbd_words(["<b_aside>", "[silence]", "<e_aside>"]) == []


def test_fisher_transcript_maps_noises_and_drops_uncertain_lines():
    assert normalize_fisher_words("[laugh] yeah [mn] i [breath] [cough] know [lipsmack] [sigh] [noise]".split()) == [
        "[laughter]", "yeah", "[noise]", "i", "[noise]", "[noise]", "know", "[noise]", "[noise]", "[noise]"]
    assert normalize_fisher_words("so (( i think )) yes".split()) is None
    assert normalize_fisher_words("Okay".split()) == ["okay"]


def test_plain_reference_of_stm_and_ldc_text():
    assert plain_reference("(%HESITATION) I DON'T KNOW { YEAH / YES } (TH-) <B_ASIDE> WELL-KNOWN, OKAY.") == [
        "i", "don't", "know", "yeah", "well-known", "okay"]
    assert plain_reference('%um, <contraction e_form="[they=>they][\'re=>are]">they\'re not {breath} thrilled?') == [
        "they're", "not", "[noise]", "thrilled"]
    assert plain_reference("[laugh] ((maybe)) so") == ["[laughter]", "maybe", "so"]
    assert plain_reference("IGNORE_TIME_SEGMENT_IN_SCORING") == ["ignore_time_segment_in_scoring"]
    assert plain_reference("") == []
