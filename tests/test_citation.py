"""How to cite: CITATION.cff, `derive cite`, and derivation records with a content hash.

- CITATION.cff validates against the CFF 1.2.0 schema (`cffconvert --validate`) and
  says what `derive cite` says (title, authors, licence, URL, the installed version).
- `derive cite` prints BibTeX that a BibTeX parser reads back, with the version.
- Every derivation record (flow, manifold, ode, mini-batch flow) carries a schema tag,
  the toolkit block, its inputs and a content hash; the command in its inputs rebuilds
  a record with the same hash; an edited record fails the check.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import bibtexparser
import bibtexparser.bparser
import pytest
import yaml

import derive
from derive._citation import CITATION, check_record, record_hash
from derive.cli import main

ROOT = Path(__file__).resolve().parents[1]


def output(capsys, argv):
    assert main(argv) == 0
    return capsys.readouterr().out


def test_citation_cff_is_valid_and_agrees_with_derive_cite():
    done = subprocess.run(
        [sys.executable, "-m", "cffconvert.cli.cli", "--validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:  # older cffconvert: the console script only
        done = subprocess.run(
            [str(Path(sys.executable).with_name("cffconvert")), "--validate"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["title"] == CITATION["title"]
    assert cff["license"] == CITATION["license"]
    assert cff["url"] == CITATION["url"]
    assert cff["authors"] == [{"name": CITATION["authors"]}]
    assert str(cff["version"]) == derive.__version__
    assert str(cff["preferred-citation"]["version"]) == derive.__version__
    assert str(cff["preferred-citation"]["year"]) == CITATION["year"]


def test_derive_cite_prints_bibtex_that_parses(capsys):
    text = output(capsys, ["cite"])
    parser = bibtexparser.bparser.BibTexParser(ignore_nonstandard_types=False)
    entries = bibtexparser.loads(text, parser=parser).entries  # @software: BibLaTeX
    assert len(entries) == 1
    entry = entries[0]
    assert entry["ENTRYTYPE"] == "software"
    assert entry["version"] == derive.__version__
    assert entry["title"] == CITATION["title"]
    assert "YourReferenceHere" not in text
    line = output(capsys, ["cite", "--format", "text"])
    assert derive.__version__ in line and CITATION["url"] in line


RECORDS = [
    (["flow", "heavy-ball", "--order", "2", "--param", "beta=0.9"], "flow"),
    (["flow", "gd", "--order", "1", "--loss", "x**4/4 + y**2", "--vars", "x,y"], "flow"),
    (["manifold", "nesterov", "--order", "1"], "manifold"),
    (["ode", "heavy-ball", "--order", "1"], "ode"),
    (["flow", "sgd", "--batches", "2", "--order", "1"], "minibatch-flow"),
    (["flow", "state x, v; param beta; v = beta*v - h*grad(x); x = x + v",
      "--order", "1"], "flow"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "kind"), RECORDS, ids=lambda a: str(a)[:40])
def test_records_carry_schema_inputs_and_a_content_hash(argv, kind, capsys):
    record = json.loads(output(capsys, [*argv, "--format", "json"]))
    assert record["schema"] == f"optimizer-flows.{kind}/1"
    assert record["toolkit"] == {
        "name": "optimizer-flows",
        "version": derive.__version__,
    }
    assert record["inputs"]["order"] == int(argv[argv.index("--order") + 1])
    assert record["content_hash"] == "sha256:" + record_hash(record)
    assert check_record(record) == record["content_hash"]
    command = record["inputs"]["command"]
    if record["inputs"]["definition"]["kind"] == "spec":
        assert command.startswith(f"derive {argv[0]} --spec SPEC_FILE")
        return
    again = json.loads(output(capsys, shlex.split(command)[1:]))
    assert again["content_hash"] == record["content_hash"]


def test_an_edited_record_fails_the_check(capsys, tmp_path):
    record = json.loads(output(capsys, ["flow", "heavy-ball", "--order", "1",
                                        "--format", "json"]))  # fmt: skip
    record["terms"][1]["coefficient"] = "-(beta + 1)/(2*(1 - beta)**2)"
    with pytest.raises(derive.DeriveError, match="edited"):
        check_record(record)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(record))
    assert main(["cite", "--record", str(path)]) == 2
    assert "edited" in capsys.readouterr().err
