"""Runs last: no known secret (the Redis password, the FAL key) appears in
any output any test produced: logs, errors, help, doctor, results."""
import lib


def test_no_secret_in_any_output(s):
    assert len(s.all_outputs) > 0
    hits = s.secrets_found()
    assert not hits, f"secrets found in output: {hits[:5]}"
