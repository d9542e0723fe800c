from fmldev.sample_data import write
from tests.conftest import ROOT


def test_the_shipped_sample_is_what_the_seeded_generator_makes(tmp_path):
    assert write(tmp_path / "churn.csv", 2000).read_bytes() == (ROOT / "samples" / "churn.csv").read_bytes()


def test_scoring_files_have_an_id_and_no_target(tmp_path):
    header = write(tmp_path / "score.csv", 3, score=True).read_text().splitlines()[0]
    assert header.startswith("customer_id,") and "churned" not in header
