"""The chit-chat detector on its shipped calibration: greetings and reactions flagged, questions not."""

import pytest

from ragtune.query.chitchat import ChitchatDetector, read_lines, shipped_calibration


@pytest.fixture(scope="module")
def detector():
    chitchat, questions = shipped_calibration()
    return ChitchatDetector().fit(chitchat, questions)


def test_shipped_calibration_is_read_without_blank_lines(tmp_path):
    chitchat, questions = shipped_calibration()
    assert len(chitchat) >= 200 and len(questions) >= 300 and all(line.strip() == line != "" for line in chitchat)
    (tmp_path / "lines.txt").write_text(" a \n\n b\n", encoding="utf-8")
    assert read_lines(tmp_path / "lines.txt") == ["a", "b"]


def test_default_threshold_is_the_benchmarked_one():
    assert ChitchatDetector().threshold == 0.55  # benchmarks/chitchat.py (issue #11)


def test_the_rule_names_what_turns_a_probability_into_a_decision():
    assert ChitchatDetector().rule() == {"threshold": 0.55, "margin": 0.03, "language": "ko"}
    assert ChitchatDetector(threshold=0.6, margin=0.2, language="en").rule() == {
        "threshold": 0.6,
        "margin": 0.2,
        "language": "en",
    }


def test_flags_chitchat_and_passes_questions(detector):
    texts = [
        "안녕하세요! 오늘 처음 써보는데 잘 부탁드려요",
        "고마워 덕분에 숙제 다 끝냈다",
        "ㅋㅋㅋㅋ 아 웃겨",
        "광합성은 어떤 과정을 거쳐 포도당을 만들어?",
        "지구 나이는 어떻게 알아내?",
    ]
    assert detector.is_chitchat(texts) == [True, True, True, False, False]
    probability = detector.probability(texts)
    assert probability.shape == (5,) and ((0 <= probability) & (probability <= 1)).all()
    assert detector.probability([]).shape == (0,)


def test_threshold_turns_probability_into_the_decision(detector):
    text = ["그냥 심심해서 들어왔어"]
    p = float(detector.probability(text)[0])
    assert ChitchatDetector(threshold=p).fit(*shipped_calibration()).is_chitchat(text) == [True]
    assert ChitchatDetector(threshold=min(p + 1e-6, 1.0)).fit(*shipped_calibration()).is_chitchat(text) == [False]


def test_the_calibrated_detector_adds_every_stride_th_synthetic_question_and_none_at_stride_0():
    from ragtune.query.chitchat import ChitchatDetector, calibrated_detector, shipped_calibration

    chitchat, knowledge = shipped_calibration()
    synthetic = [f"광합성 {i}단계에서 무엇이 만들어지나요?" for i in range(40)]
    probe = ["안녕 반가워", "세포 호흡은 어디서 일어나?"]
    assert list(calibrated_detector(0.55, 7, synthetic, 0).probability(probe)) == list(
        ChitchatDetector(threshold=0.55, seed=7).fit(chitchat, knowledge).probability(probe)
    )
    assert list(calibrated_detector(0.55, 7, synthetic, 4).probability(probe)) == list(
        ChitchatDetector(threshold=0.55, seed=7).fit(chitchat, knowledge + synthetic[::4]).probability(probe)
    )
    assert list(calibrated_detector(0.55, 7, synthetic, 4).probability(probe)) != list(
        calibrated_detector(0.55, 7, synthetic, 0).probability(probe)
    )
