#include "support/test_certs.h"

#include <fstream>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace resec::testing {
namespace {

// Key generation and signing with P-256 take milliseconds; this bounds a
// wedged openssl on a starved machine.
constexpr std::chrono::seconds kOpensslTimeout{30};

constexpr char kCaConfig[] = R"([req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = resec test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
)";

constexpr char kServerConfig[] = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = server.dc1.consul
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, DNS:server.dc1.consul
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
)";

Status WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Internal("cannot write " + path.string());
  return Status::Ok();
}

Status RunOpenssl(const std::filesystem::path& dir, std::vector<std::string> args) {
  ChildProcess::Options options;
  options.argv = {"openssl"};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.log_dir = dir;
  options.log_name = "openssl.log";
  StatusOr<ChildProcess> child = ChildProcess::Start(options);
  if (!child.ok()) return child.status();
  std::optional<ExitStatus> exit = child->Wait(kOpensslTimeout);
  if (!exit.has_value() || !exit->Exited() || exit->code != 0) {
    std::string how = exit.has_value() ? exit->ToString() : "timed out";
    return Internal("openssl " + args[0] + " failed (" + how + "); log tail:\n" +
                    TailFile(child->log_path(), 20));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<TestCertificates> MakeTestCertificates(const std::filesystem::path& dir) {
  const auto p = [&](const char* name) { return (dir / name).string(); };
  if (Status s = WriteFile(dir / "ca.cnf", kCaConfig); !s.ok()) return s;
  if (Status s = WriteFile(dir / "server.cnf", kServerConfig); !s.ok()) return s;
  const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt",
                                           "ec_paramgen_curve:prime256v1", "-nodes"};
  std::vector<std::string> ca = {"req", "-x509", "-config", p("ca.cnf"), "-days", "7",
                                 "-keyout", p("ca.key"), "-out", p("ca.pem")};
  ca.insert(ca.end(), ec_key.begin(), ec_key.end());
  if (Status s = RunOpenssl(dir, ca); !s.ok()) return s;
  std::vector<std::string> csr = {"req", "-new", "-config", p("server.cnf"),
                                  "-keyout", p("server.key"), "-out", p("server.csr")};
  csr.insert(csr.end(), ec_key.begin(), ec_key.end());
  if (Status s = RunOpenssl(dir, csr); !s.ok()) return s;
  if (Status s = RunOpenssl(
          dir, {"x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
                "-set_serial", "2", "-days", "7", "-extfile", p("server.cnf"), "-extensions",
                "v3_server", "-out", p("server.pem")});
      !s.ok()) {
    return s;
  }
  return TestCertificates{dir / "ca.pem", dir / "server.pem", dir / "server.key"};
}

}  // namespace resec::testing
