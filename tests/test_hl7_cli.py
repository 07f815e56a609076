"""`maison hl7 envoyer`: the messages of a file as the ANS writes them, each sent and its ACK shown."""

from pathlib import Path

from maison.hl7_cli import messages_of
from tests.etablissement.sejours.messages import PAM_EXAMPLES, adt


def test_a_file_of_several_messages(tmp_path: Path):
    text = "\n".join(adt(e, str(i)).replace("\r", "\n") for i, e in enumerate(("A01", "A02", "A03")))
    found = messages_of(text + "\n\n")
    assert [m.split("|")[8] for m in found] == ["ADT^A01^ADT_A01", "ADT^A02^ADT_A02", "ADT^A03^ADT_A03"]
    assert all("\n" not in m and m.endswith("\r") for m in found)


def test_an_ans_example(reference_path: Path):
    (message,) = messages_of((reference_path / "hl7v2/exemples" / PAM_EXAMPLES[2]).read_text())
    assert (
        message.startswith("MSH|^~\\&|GAM|") and message.count("\r") == 11
    )  # its 11 segments, the trailing blank lines dropped
    assert not message.endswith("\r\r")
