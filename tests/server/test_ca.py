from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mdm_server.crypto.ca import CertificateRequestError, DeviceCA, parse_device_csr
from mdm_server.crypto.keystore import KeyStore
from tests.factories.devices import csr_for

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def ca(tmp_path: Path) -> DeviceCA:
    return DeviceCA.load_or_create(KeyStore(tmp_path), now=NOW, name="Test CA")


class TestDeviceCA:
    def test_is_created_once_and_reloaded_with_the_same_fingerprint(self, tmp_path: Path) -> None:
        first = DeviceCA.load_or_create(KeyStore(tmp_path), now=NOW, name="Test CA")
        again = DeviceCA.load_or_create(KeyStore(tmp_path), now=NOW, name="Test CA")
        assert first.fingerprint_sha256 == again.fingerprint_sha256
        assert len(first.fingerprint_sha256) == 64
        assert (tmp_path / "device-ca.key").stat().st_mode & 0o077 == 0

    def test_issues_a_one_year_client_certificate_naming_the_device(self, ca: DeviceCA) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        device_id = uuid.uuid4()
        issued = ca.issue(parse_device_csr(csr_for(key)), device_id=device_id, now=NOW, days=365)
        cert = x509.load_pem_x509_certificate(issued.pem.encode())
        cert.verify_directly_issued_by(ca.certificate)
        assert cert.public_key() == key.public_key()
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == str(device_id)
        assert cert.not_valid_after_utc - NOW == timedelta(days=365)
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in usage

    def test_ignores_what_the_csr_asks_for_itself(self, ca: DeviceCA) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        greedy = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tabard Device CA")]))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
            .decode()
        )
        issued = ca.issue(parse_device_csr(greedy), device_id=uuid.uuid4(), now=NOW, days=365)
        cert = x509.load_pem_x509_certificate(issued.pem.encode())
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


class TestCsrChecks:
    def test_refuses_an_rsa_key(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(CertificateRequestError, match="P-256"):
            parse_device_csr(csr_for(key))

    def test_refuses_another_curve(self) -> None:
        with pytest.raises(CertificateRequestError, match="P-256"):
            parse_device_csr(csr_for(ec.generate_private_key(ec.SECP384R1())))

    @pytest.mark.parametrize(
        "garbage",
        [
            "",
            "hello",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
            "é" * 40,
        ],
    )
    def test_refuses_garbage(self, garbage: str) -> None:
        with pytest.raises(CertificateRequestError, match="PKCS#10"):
            parse_device_csr(garbage)

    def test_refuses_a_csr_whose_signature_does_not_verify(self) -> None:
        pem = csr_for(ec.generate_private_key(ec.SECP256R1()))
        der = bytearray(
            x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER)
        )
        der[-3] ^= 0x01  # inside the signature
        tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
        with pytest.raises(CertificateRequestError, match="signature"):
            parse_device_csr(tampered.decode())
