// MakeTestCertificates: a throw-away CA and one server certificate for TLS
// tests (Consul over HTTPS, TLS-enabled clients), made with the openssl CLI.
//
// The server certificate carries the SANs DNS:localhost, IP:127.0.0.1 and
// DNS:server.dc1.consul (Consul's name for a dc1 server), EKU serverAuth and
// clientAuth, and P-256 keys (fast to generate). Valid for 7 days from now.
//
// Thread-safety: writes only into `dir`; concurrent calls need distinct dirs.
#pragma once

#include <filesystem>

#include "resec/status.h"

namespace resec::testing {

struct TestCertificates {
  std::filesystem::path ca_file;    // PEM CA certificate: what clients trust
  std::filesystem::path cert_file;  // PEM server certificate
  std::filesystem::path key_file;   // PEM (PKCS#8) server private key
};

// Writes ca.pem, ca.key, server.pem, server.key (plus openssl.log and the
// config files) into `dir`, which must exist.
StatusOr<TestCertificates> MakeTestCertificates(const std::filesystem::path& dir);

}  // namespace resec::testing
