"""Secrets at rest (issue 18 item 2.9): keys outside the database, private files, encrypted blobs,
SQL errors without their parameters, passwords at OWASP's parameters, keyed delegation codes."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
from datetime import UTC, datetime

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from maison.core.blobs import MAGIC, BlobCorrupted, Blobs
from maison.core.keystore import FileKeyStore, KeyStoreError, random_secret
from maison.core.storage import Database
from tests.identite.helpers import SARAH_NIR


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """The default umask of a shell (022): what made the database and documents world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


# --- key store --------------------------------------------------------------------------------------


def test_key_files_are_private_and_first_writer_wins(tmp_path, open_umask):
    store = FileKeyStore(tmp_path / "secrets")
    first = random_secret(store, "blobs.aes256gcm")
    assert len(first) == 32 and random_secret(store, "blobs.aes256gcm") == first
    assert store.create("blobs.aes256gcm", b"another") == first  # never replaced
    assert _mode(tmp_path / "secrets") == 0o700 and _mode(tmp_path / "secrets" / "blobs.aes256gcm") == 0o600
    os.chmod(tmp_path / "secrets" / "blobs.aes256gcm", 0o644)
    with pytest.raises(KeyStoreError):  # a key others could read is refused, as ssh refuses it
        store.read("blobs.aes256gcm")
    with pytest.raises(ValueError):
        store.read("../maison.db")


# --- blobs ------------------------------------------------------------------------------------------


def test_blobs_are_encrypted_at_rest_and_still_content_addressed(tmp_path, open_umask):
    key = os.urandom(32)
    blobs = Blobs(tmp_path / "documents", key)
    data = b"<ClinicalDocument>compte rendu de GARCIA-HAMMADI SARAH</ClinicalDocument>"
    digest = blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest() and blobs.get(digest) == data
    on_disk = blobs.path(digest).read_bytes()
    assert on_disk.startswith(MAGIC) and b"GARCIA" not in on_disk and len(on_disk) == len(data) + 36
    assert blobs.put(data) == digest and blobs.path(digest).read_bytes() == on_disk  # idempotent
    assert _mode(blobs.path(digest)) == 0o600
    assert _mode(blobs.path(digest).parent) == 0o700 and _mode(blobs.path(digest).parent.parent) == 0o700
    # without the key (a copy of the data directory alone), nothing is readable
    with pytest.raises(BlobCorrupted):
        Blobs(tmp_path / "documents", os.urandom(32)).get(digest)
    # the address is the associated data: the file moved under another document's name fails
    other = blobs.put(b"autre document")
    blobs.path(other).write_bytes(on_disk)
    with pytest.raises(BlobCorrupted):
        blobs.get(other)
    # a flipped bit in the ciphertext fails authentication
    blobs.path(digest).write_bytes(on_disk[:-1] + bytes([on_disk[-1] ^ 1]))
    with pytest.raises(BlobCorrupted):
        blobs.get(digest)


def test_blobs_written_before_encryption_are_read_and_can_be_migrated(tmp_path):
    legacy = Blobs(tmp_path)  # in clear, as every blob was before
    old = legacy.put(b"%PDF-1.7 ancienne lettre")
    key = os.urandom(32)
    blobs = Blobs(tmp_path, key)
    assert blobs.get(old) == b"%PDF-1.7 ancienne lettre"
    assert blobs.encrypt_legacy() == 1 and blobs.encrypt_legacy() == 0
    assert blobs.path(old).read_bytes().startswith(MAGIC) and blobs.get(old) == b"%PDF-1.7 ancienne lettre"
    rotated = Blobs(tmp_path, os.urandom(32), old_keys=[key])  # a new key; the old one still reads
    assert rotated.get(old) == b"%PDF-1.7 ancienne lettre"


def test_the_house_encrypts_documents_with_a_key_outside_the_data_directory(house):
    digest = house.dmp.blobs.put(b"document du DMP")
    assert house.dmp.blobs.path(digest).read_bytes().startswith(MAGIC)
    assert house.mss.blobs.put(b"message") and house.mss.blobs._key is not None  # noqa: SLF001
    secrets_dir = house.settings.effective_secrets_dir
    assert (secrets_dir / "blobs.aes256gcm").is_file()
    assert not secrets_dir.resolve().is_relative_to(house.settings.data_dir.resolve())


# --- the database's files and its errors ------------------------------------------------------------


def test_database_file_and_directory_are_private(tmp_path, open_umask):
    db = Database(f"sqlite:///{tmp_path / 'data' / 'maison.db'}")
    with db.write() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert _mode(tmp_path / "data") == 0o700
    for name in ("maison.db", "maison.db-wal", "maison.db-shm"):
        assert _mode(tmp_path / "data" / name) == 0o600, name
    db.dispose()


def test_cli_sets_a_private_umask(tmp_path, open_umask):
    from typer.testing import CliRunner

    from maison.cli import app

    result = CliRunner().invoke(
        app,
        ["audit", "checkpoint"],
        env={
            "MAISON_DATA_DIR": str(tmp_path / "data"),
            "MAISON_SECRETS_DIR": str(tmp_path / "secrets"),
            "MAISON_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'maison.db'}",
        },
    )
    previous = os.umask(0o022)
    assert previous == 0o077, result.output


def test_sql_errors_do_not_carry_their_parameters_into_logs(db, caplog):
    from maison.core import audit

    row = {
        **audit.Trail.entry(audit.SYSTEM, "test.lecture", patient=SARAH_NIR),
        "seq": 10**6,
        "prev_hash": "0" * 64,
        "hash": "0" * 64,
    }
    caplog.set_level(logging.DEBUG)
    with db.write() as conn:
        conn.execute(audit.audit_event.insert().values(**row))
    with pytest.raises(IntegrityError) as raised:  # the same sequence number twice
        with db.write() as conn:
            conn.execute(audit.audit_event.insert().values(**row))
    logging.getLogger("maison.test").error("insert failed", exc_info=raised.value)
    assert "hidden due to hide_parameters" in str(raised.value)
    assert SARAH_NIR not in str(raised.value) and SARAH_NIR not in caplog.text


# --- passwords ----------------------------------------------------------------------------------------


def test_passwords_are_hashed_at_owasp_parameters():
    from maison.core.passwords import check_password, hash_password

    stored = hash_password("mot-de-passe-de-test-2026")
    # OWASP Password Storage Cheat Sheet: Argon2id, m=19 MiB, t=2, p=1
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert check_password("mot-de-passe-de-test-2026", stored) and not check_password("autre", stored)


def _legacy_scrypt(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_old_hashes_still_log_in_and_are_upgraded(house):
    from maison.identite.mes import store

    login = house.patient_login
    login.open_account("sarah.garcia", SARAH_NIR, "1977-01-21", "mot-de-passe-de-test-2026", email="s@example.fr")
    a = store.mes_account
    with house.db.write() as conn:
        conn.execute(
            a.update()
            .where(a.c.login == "sarah.garcia")
            .values(password_hash=_legacy_scrypt("mot-de-passe-de-test-2026"))
        )
    assert login.start("sarah.garcia", "mot-de-passe-de-test-2026")["canal"] == "email"
    with house.db.read() as conn:
        stored = conn.execute(sa.select(a.c.password_hash).where(a.c.login == "sarah.garcia")).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


# --- delegation codes ---------------------------------------------------------------------------------


def test_delegation_codes_are_kept_by_a_keyed_hash(house):
    from maison.core.actor import Actor
    from maison.partage.dmp import store
    from maison.partage.dmp.model import Access, Who

    patient = Who(Actor(SARAH_NIR, "", "", kind="patient", patient=SARAH_NIR))
    code = house.dmp.create_code(patient, "810000000001", ["dmp"], 2)
    with house.db.read() as conn:
        kept = conn.execute(sa.select(store.dmp_delegation_code.c.code_hash)).scalar_one()
    assert kept != hashlib.sha256(code.encode()).hexdigest()  # not brute-forceable from a dump alone
    secret = house.settings.keystore().read("dmp-delegation-codes.hmac")
    assert secret is not None and kept == __import__("hmac").new(secret, code.encode(), "sha256").hexdigest()
    professional = Who(Actor("810000000001", "", "", kind="professional"), Access(code=code))
    with house.db.read() as conn:
        view = house.dmp.view(conn, professional, SARAH_NIR, datetime.now(UTC))
    assert view.code_rubriques == frozenset({"dmp"})


# --- Pro Santé Connect signing keys -------------------------------------------------------------------


def test_psc_signing_keys_are_not_in_the_database(house):
    from maison.identite.psc import store

    kid, key = house.psc.keys.signing()
    with house.db.read() as conn:
        rows = conn.execute(sa.select(store.psc_key)).mappings().all()
    assert [r["kid"] for r in rows] == [kid] and rows[0]["private_jwk"] is None
    assert all('"d"' not in (value or "") for r in rows for value in r.values() if isinstance(value, str))
    path = house.settings.effective_secrets_dir / f"psc-signing-{kid}.jwk"
    assert _mode(path) == 0o600 and orjson.loads(path.read_bytes())["d"] == key.as_dict(private=True)["d"]


def test_psc_keys_kept_in_the_database_by_an_older_version_move_out_and_keep_their_kid(house):
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    from maison.identite.psc import store

    old = RSAKey.generate_key(2048, parameters={"kid": "ancienne", "use": "sig", "alg": "RS256"})
    token = jwt.encode({"alg": "RS256", "kid": "ancienne"}, {"sub": "810000000001"}, old)
    with house.db.write() as conn:
        conn.execute(
            store.psc_key.insert().values(
                kid="ancienne",
                private_jwk=orjson.dumps(old.as_dict(private=True)).decode(),
                created_at="2026-01-01T00:00:00",
                state="active",
            )
        )
    kid, key = house.psc.keys.signing()
    assert kid == "ancienne" and key.as_dict(private=True)["d"] == old.as_dict(private=True)["d"]
    assert jwt.decode(token, house.psc.keys.verification()).claims["sub"] == "810000000001"
    with house.db.read() as conn:
        assert conn.execute(sa.select(store.psc_key.c.private_jwk)).scalar_one() is None
    assert house.settings.keystore().read("psc-signing-ancienne.jwk") is not None


def test_migration_0022_moves_the_keys_to_the_key_store(tmp_path):
    from alembic import command
    from joserfc.jwk import RSAKey

    from maison.migrations import alembic_config, migrate

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(db), "0021")
    old = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
    with db.write() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO psc_key (kid, private_jwk, created_at, state) VALUES ('k1', :jwk, '2026-01-01', 'active')"
            ),
            {"jwk": orjson.dumps(old.as_dict(private=True)).decode()},
        )
    keystore = FileKeyStore(tmp_path / "secrets")
    migrate(db, keystore=keystore)
    with db.read() as conn:
        row = conn.execute(sa.text("SELECT private_jwk, public_jwk FROM psc_key WHERE kid = 'k1'")).one()
    assert row.private_jwk is None and '"d"' not in row.public_jwk
    assert orjson.loads(keystore.read("psc-signing-k1.jwk"))["d"] == old.as_dict(private=True)["d"]
    back = alembic_config(db)
    back.attributes["keystore"] = keystore
    command.downgrade(back, "0021")  # and back into the table, for a rollback of the upgrade
    with db.read() as conn:
        assert orjson.loads(conn.execute(sa.text("SELECT private_jwk FROM psc_key")).scalar_one())["kid"] == "k1"
    db.dispose()


def test_cli_encrypts_the_documents_stored_in_clear(tmp_path, database_url, db):
    from typer.testing import CliRunner

    from maison.cli import app

    clear = Blobs(tmp_path / "data" / "documents")
    digest = clear.put(b"compte rendu en clair")
    env = {
        "MAISON_DATA_DIR": str(tmp_path / "data"),
        "MAISON_SECRETS_DIR": str(tmp_path / "secrets"),
        "MAISON_DATABASE_URL": database_url,
        "MAISON_REFERENCE_PATH": os.environ.get("MAISON_REFERENCE_PATH", ""),
    }
    result = CliRunner().invoke(app, ["chiffrer-documents"], env={k: v for k, v in env.items() if v})
    assert result.exit_code == 0 and "1 document(s)" in result.output, result.output
    assert clear.path(digest).read_bytes().startswith(MAGIC)
    key = FileKeyStore(tmp_path / "secrets").read("blobs.aes256gcm")
    assert Blobs(tmp_path / "data" / "documents", key).get(digest) == b"compte rendu en clair"


def test_a_signing_key_missing_from_the_key_store_is_replaced_not_a_server_error(house):
    from maison.identite.psc.keys import Keys

    first, _ = Keys(house.db).signing()  # made in another process's memory: gone with it
    kid, _ = house.psc.keys.signing()
    assert kid != first and kid in {k.kid for k in house.psc.keys.verification().keys}
    assert first in {k.kid for k in house.psc.keys.verification().keys}  # still verifies what it signed
