// The real consul::Client: cpp-httplib for the wire, json_codec for the bodies.
//
// One httplib client per instance, used by the owning thread only; Cancel()
// is the single cross-thread entry point (see Client in client.h). Cancel is
// terminal: once called, every call (in progress or later) answers kCancelled,
// because its only use is ending blocking queries at shutdown.
//
// The client never logs (callers log a Status once, where they handle it), so
// the token and the basic-auth password cannot leak from here.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "resec/consul/client.h"
#include "resec/consul/json_codec.h"

namespace resec::consul {
namespace {

using std::chrono::milliseconds;

struct HttpResponse {
  int status = 0;
  std::string body;
  QueryMeta meta;
};

bool IsNumericHost(const std::string& host) {
  in6_addr buffer{};
  return inet_pton(AF_INET, host.c_str(), &buffer) == 1 || inet_pton(AF_INET6, host.c_str(), &buffer) == 1;
}

// The first address `host` resolves to, as text (httplib's address map takes
// numeric addresses only).
StatusOr<std::string> ResolveHost(const std::string& host) {
  if (IsNumericHost(host)) return host;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0) return Unavailable("resolve " + host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(result, &freeaddrinfo);
  char text[INET6_ADDRSTRLEN] = {};
  const void* address = nullptr;
  if (result->ai_family == AF_INET) {
    address = &reinterpret_cast<const sockaddr_in*>(result->ai_addr)->sin_addr;
  } else if (result->ai_family == AF_INET6) {
    address = &reinterpret_cast<const sockaddr_in6*>(result->ai_addr)->sin6_addr;
  }
  if (address == nullptr || inet_ntop(result->ai_family, address, text, sizeof(text)) == nullptr) {
    return Unavailable("resolve " + host + ": no usable address");
  }
  return std::string(text);
}

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    if (!out.empty()) out += "; ";
    out += buffer;
  }
  return out;
}

class HttpClient final : public Client {
 public:
  HttpClient(const ConsulClientConfig& config, milliseconds request_timeout)
      : token_(config.token), request_timeout_(request_timeout) {
    init_status_ = Init(config);
  }

  ~HttpClient() override = default;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  StatusOr<std::string> CreateSession(const SessionOptions& options) override {
    StatusOr<HttpResponse> r = Call("PUT", "/v1/session/create", "", EncodeSessionCreate(options), {});
    if (!r.ok()) return r.status();
    return DecodeSessionCreate(r->body);
  }

  StatusOr<std::chrono::seconds> RenewSession(const std::string& session_id) override {
    StatusOr<HttpResponse> r = Call("PUT", "/v1/session/renew/" + EscapeComponent(session_id), "", "", {});
    if (!r.ok()) return r.status();
    return DecodeSessionRenew(r->body);
  }

  Status DestroySession(const std::string& session_id) override {
    StatusOr<HttpResponse> r = Call("PUT", "/v1/session/destroy/" + EscapeComponent(session_id), "", "", {});
    if (!r.ok()) return r.status();
    return DecodeBool(r->body, "session destroy").status();
  }

  StatusOr<WithMeta<std::optional<KvPair>>> GetKey(const std::string& key,
                                                   const QueryOptions& options) override {
    StatusOr<HttpResponse> r =
        Call("GET", KvPath(key), BlockingQuery(options), "", BlockingHold(options), /*not_found_ok=*/true);
    if (!r.ok()) return r.status();
    WithMeta<std::optional<KvPair>> out{std::nullopt, r->meta};
    if (r->status == 404) return out;
    StatusOr<std::vector<KvPair>> pairs = DecodeKvPairs(r->body);
    if (!pairs.ok()) return pairs.status();
    if (!pairs->empty()) out.value = std::move(pairs->front());
    return out;
  }

  StatusOr<WithMeta<std::vector<KvPair>>> ListKeys(const std::string& prefix,
                                                   const QueryOptions& options) override {
    std::string query = BlockingQuery(options);
    query = query.empty() ? "recurse" : "recurse&" + query;
    StatusOr<HttpResponse> r = Call("GET", KvPath(prefix), query, "", BlockingHold(options), /*not_found_ok=*/true);
    if (!r.ok()) return r.status();
    WithMeta<std::vector<KvPair>> out{{}, r->meta};
    if (r->status == 404) return out;
    StatusOr<std::vector<KvPair>> pairs = DecodeKvPairs(r->body);
    if (!pairs.ok()) return pairs.status();
    out.value = std::move(pairs).value();
    return out;
  }

  StatusOr<bool> AcquireKey(const std::string& key, const std::string& session_id,
                            const std::string& value) override {
    StatusOr<HttpResponse> r = Call("PUT", KvPath(key), "acquire=" + EscapeComponent(session_id), value, {});
    if (!r.ok()) return r.status();
    return DecodeBool(r->body, "kv acquire");
  }

  StatusOr<bool> ReleaseKey(const std::string& key, const std::string& session_id,
                            const std::string& value) override {
    StatusOr<HttpResponse> r = Call("PUT", KvPath(key), "release=" + EscapeComponent(session_id), value, {});
    if (!r.ok()) return r.status();
    return DecodeBool(r->body, "kv release");
  }

  Status PutKey(const std::string& key, const std::string& value) override {
    StatusOr<HttpResponse> r = Call("PUT", KvPath(key), "", value, {});
    if (!r.ok()) return r.status();
    return ExpectTrue(r->body, "PUT " + KvPath(key));
  }

  Status DeleteKey(const std::string& key) override {
    StatusOr<HttpResponse> r = Call("DELETE", KvPath(key), "", "", {});
    if (!r.ok()) return r.status();
    return ExpectTrue(r->body, "DELETE " + KvPath(key));
  }

  Status RegisterService(const ServiceRegistration& registration) override {
    return Call("PUT", "/v1/agent/service/register", "", EncodeServiceRegistration(registration), {}).status();
  }

  Status DeregisterService(const std::string& service_id) override {
    return Call("PUT", "/v1/agent/service/deregister/" + EscapeComponent(service_id), "", "", {}).status();
  }

  Status UpdateTtlCheck(const std::string& check_id, const std::string& status,
                        const std::string& output) override {
    std::string path = "/v1/agent/check/update/" + EscapeComponent(check_id);
    StatusOr<HttpResponse> r = Call("PUT", path, "", EncodeCheckUpdate(status, output), {},
                                    /*not_found_ok=*/false, /*unknown_check_is_not_found=*/true);
    return r.status();
  }

  StatusOr<WithMeta<std::vector<ServiceInstance>>> HealthyInstances(const std::string& service,
                                                                    const std::string& tag,
                                                                    const QueryOptions& options) override {
    std::string query = "passing";
    if (!tag.empty()) query += "&tag=" + EscapeComponent(tag);
    if (std::string blocking = BlockingQuery(options); !blocking.empty()) query += "&" + blocking;
    StatusOr<HttpResponse> r =
        Call("GET", "/v1/health/service/" + EscapeComponent(service), query, "", BlockingHold(options));
    if (!r.ok()) return r.status();
    StatusOr<std::vector<ServiceInstance>> instances = DecodeHealthService(r->body);
    if (!instances.ok()) return instances.status();
    return WithMeta<std::vector<ServiceInstance>>{std::move(instances).value(), r->meta};
  }

  StatusOr<WithMeta<std::vector<ServiceHealth>>> InstancesWithChecks(const std::string& service,
                                                                    const QueryOptions& options) override {
    StatusOr<HttpResponse> r = Call("GET", "/v1/health/service/" + EscapeComponent(service), BlockingQuery(options),
                                    "", BlockingHold(options));
    if (!r.ok()) return r.status();
    StatusOr<std::vector<ServiceHealth>> instances = DecodeServiceHealth(r->body);
    if (!instances.ok()) return instances.status();
    return WithMeta<std::vector<ServiceHealth>>{std::move(instances).value(), r->meta};
  }

  StatusOr<std::string> NodeName() override {
    StatusOr<HttpResponse> r = Call("GET", "/v1/agent/self", "", "", {});
    if (!r.ok()) return r.status();
    return DecodeAgentSelfNodeName(r->body);
  }

  Status SetCatalogCheck(const CatalogCheck& check) override {
    if (check.guard_session.empty()) {
      return Call("PUT", "/v1/catalog/register", "", EncodeCatalogCheck(check), {}).status();
    }
    Status st = Call("PUT", "/v1/txn", "", EncodeGuardedCatalogCheck(check), {}).status();
    // 409: the transaction was rolled back, here because the session no
    // longer holds the key.
    if (st.http_status() == 409) {
      return FailedPrecondition("our session no longer holds " + check.guard_key);
    }
    return st;
  }

  StatusOr<std::vector<std::string>> ServerNodes() override {
    StatusOr<HttpResponse> r = Call("GET", "/v1/agent/members", "", "", {});
    if (!r.ok()) return r.status();
    return DecodeServerMembers(r->body);
  }

  StatusOr<std::string> NodeAddress() override {
    StatusOr<HttpResponse> r = Call("GET", "/v1/agent/self", "", "", {});
    if (!r.ok()) return r.status();
    return DecodeAgentSelfAddress(r->body);
  }

  StatusOr<std::string> SessionNode(const std::string& session_id) override {
    StatusOr<HttpResponse> r = Call("GET", "/v1/session/info/" + EscapeComponent(session_id), "", "", {});
    if (!r.ok()) return r.status();
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || !j.is_array() || j.empty() || !j[0].is_object() || !j[0].contains("Node") ||
        !j[0]["Node"].is_string()) {
      return NotFound("session " + session_id + " not found");
    }
    return j[0]["Node"].get<std::string>();
  }

  StatusOr<std::string> Leader() override {
    StatusOr<HttpResponse> r = Call("GET", "/v1/status/leader", "", "", {});
    if (!r.ok()) return r.status();
    return DecodeLeader(r->body);
  }

  void Cancel() override {
    cancelled_.store(true);
    // stop() shuts the socket of a request in flight (waking its blocked
    // read); a request that has not opened its socket yet is caught by the
    // socket-options hook installed in Init().
    if (http_) http_->stop();
  }

 private:
  Status Init(const ConsulClientConfig& config) {
    if (config.scheme != "http" && config.scheme != "https") {
      return InvalidArgument("consul client: unsupported scheme \"" + config.scheme + "\" (http or https)");
    }
    if (config.host.empty()) return InvalidArgument("consul client: empty host");
    if (config.port <= 0 || config.port > 65535) return InvalidArgument("consul client: bad port");
    if (config.scheme == "http") {
      http_ = std::make_unique<httplib::ClientImpl>(config.host, config.port);
    } else {
      Status s = InitTls(config);
      if (!s.ok()) return s;
    }

    // Connecting is quick on a healthy network; a peer that does not answer
    // the handshake within the request budget is as good as down.
    http_->set_connection_timeout(request_timeout_);
    http_->set_write_timeout(request_timeout_);
    http_->set_read_timeout(request_timeout_);
    // One kept-alive connection per client: a new connection per call costs
    // Consul (and with TLS a handshake) on every renewal and check refresh.
    // A kept-alive socket that Consul closed while we idled is retried once
    // on a fresh connection (see Call).
    http_->set_keep_alive(true);
    // Without it a kept-alive connection pays Nagle against Consul's delayed
    // ACK on every request httplib writes in two parts (headers, body):
    // about 40 ms per call, measured on the rig as 45 ms for each PUT to the
    // local agent (3 ms with it), 100 ms added to registering a new master.
    http_->set_tcp_nodelay(true);
    http_->set_follow_location(false);
    // Paths and queries are escaped by json_codec; httplib's own pass would
    // touch '%' sequences we already produced.
    http_->set_url_encode(false);
    if (!config.basic_auth_user.empty() || !config.basic_auth_password.empty()) {
      http_->set_basic_auth(config.basic_auth_user, config.basic_auth_password);
    }
    // Runs on the calling thread under httplib's socket mutex, right before
    // connect(): closes the window where Cancel() found no socket to stop.
    // A zero read timeout makes the request fail at its first read.
    http_->set_socket_options([this](socket_t) {
      if (cancelled_.load()) http_->set_read_timeout(0, 1);
    });
    return Status::Ok();
  }

  Status InitTls(const ConsulClientConfig& config) {
    if (config.client_cert.empty() != config.client_key.empty()) {
      return InvalidArgument("consul client: a client certificate needs its key and vice versa");
    }
    // The name the server certificate must carry. With CONSUL_TLS_SERVER_NAME
    // the client talks to that name (SNI, Host, certificate check) and an
    // address map sends its connection to config.host.
    tls_server_name_ = config.tls_server_name;
    connect_host_ = config.host;
    const std::string& name = config.tls_server_name.empty() ? config.host : config.tls_server_name;
    verify_name_ = name;
    std::unique_ptr<httplib::SSLClient> tls;
    if (config.client_cert.empty()) {
      tls = std::make_unique<httplib::SSLClient>(name, config.port);
    } else {
      tls = std::make_unique<httplib::SSLClient>(name, config.port, config.client_cert, config.client_key);
    }
    if (!tls->is_valid()) {
      std::string detail = OpenSslErrors();
      return InvalidArgument("consul client: cannot load the TLS client certificate or key" +
                             (detail.empty() ? std::string() : " (" + detail + ")"));
    }
    tls->enable_server_certificate_verification(config.tls_verify);
    if (config.tls_verify && (!config.ca_file.empty() || !config.ca_path.empty())) {
      // Load now so a wrong path is reported as a configuration error rather
      // than as a connection failure on every call. httplib would load the
      // same files lazily; pointing it at them too keeps its own check happy.
      SSL_CTX* ctx = tls->ssl_context();
      if (SSL_CTX_load_verify_locations(ctx, config.ca_file.empty() ? nullptr : config.ca_file.c_str(),
                                        config.ca_path.empty() ? nullptr : config.ca_path.c_str()) != 1) {
        std::string detail = OpenSslErrors();
        return InvalidArgument("consul client: cannot load the CA file or path" +
                               (detail.empty() ? std::string() : " (" + detail + ")"));
      }
      tls->set_ca_cert_path(config.ca_file, config.ca_path);
    }
    http_ = std::move(tls);
    return Status::Ok();
  }

  static std::string KvPath(const std::string& key) {
    // A leading '/' would make "/v1/kv//key", which Consul's router answers
    // with a redirect; keys never start with one in Consul's own tools.
    std::string_view trimmed = key;
    while (!trimmed.empty() && trimmed.front() == '/') trimmed.remove_prefix(1);
    return "/v1/kv/" + EscapePath(trimmed);
  }

  static Status ExpectTrue(const std::string& body, const std::string& what) {
    StatusOr<bool> ok = DecodeBool(body, what);
    if (!ok.ok()) return ok.status();
    if (!*ok) return Internal(what + ": Consul answered false");
    return Status::Ok();
  }

  // One HTTP exchange. `hold` is how long Consul may legitimately keep a
  // blocking read open (0 for plain calls); path must be escaped already and
  // carry no query (it appears in error messages; queries may hold session
  // IDs). With not_found_ok a 404 is returned as a response, not an error.
  StatusOr<HttpResponse> Call(const char* method, const std::string& path, const std::string& query,
                              std::string body, milliseconds hold, bool not_found_ok = false,
                              bool unknown_check_is_not_found = false) {
    if (!init_status_.ok()) return init_status_;
    std::string what = std::string(method) + " " + path;
    if (cancelled_.load()) return Cancelled(what + ": client cancelled");

    if (!tls_server_name_.empty() && tls_server_name_ != connect_host_) {
      // Re-resolved per call so a DNS change of the Consul host is followed.
      StatusOr<std::string> address = ResolveHost(connect_host_);
      if (!address.ok()) return Unavailable(what + ": " + address.status().message());
      http_->set_hostname_addr_map({{tls_server_name_, *address}});
    }

    // Plain calls get the request budget; a blocking read additionally gets
    // the time Consul may hold it (wait + wait/16 jitter), or every long poll
    // would end in a read timeout.
    http_->set_read_timeout(request_timeout_ + hold);

    std::string received;
    uint64_t announced_size = 0;  // set when a Content-Length above the cap is refused unread
    bool too_large = false;
    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    bool sent = false;
    for (int attempt = 0; attempt < 2; ++attempt) {
      httplib::Request request;
      request.method = method;
      request.path = query.empty() ? path : path + "?" + query;
      if (!token_.empty()) request.headers.emplace("X-Consul-Token", token_);
      if (!body.empty()) {
        // KV values are opaque bytes; everything else we send is JSON.
        bool is_kv = path.rfind("/v1/kv/", 0) == 0;
        request.headers.emplace("Content-Type", is_kv ? "application/octet-stream" : "application/json");
      }
      request.body = body;
      received.clear();
      announced_size = 0;
      too_large = false;
      request.content_receiver = [&received, &announced_size, &too_large](const char* data, size_t length, uint64_t,
                                                                          uint64_t content_length) {
        // httplib passes the Content-Length (0 for chunked or close-delimited
        // bodies): an announced oversize body is refused before a byte of it
        // is kept, and a known size is reserved once instead of by doubling.
        if (content_length > kMaxResponseBytes) {
          announced_size = content_length;
          too_large = true;
          return false;
        }
        if (received.empty() && content_length > 0) received.reserve(content_length);
        if (received.size() + length > kMaxResponseBytes) {
          too_large = true;
          return false;
        }
        received.append(data, length);
        return true;
      };
      response = httplib::Response();
      error = httplib::Error::Success;
      // OpenSSL's error queue is per thread; start clean so a TLS failure
      // reports its own reasons, not leftovers of an earlier call.
      ERR_clear_error();
      const bool reused = answered_before_;
      sent = http_->send(request, response, error);
      answered_before_ = sent;
      // A connection kept alive since an earlier answer may have been closed
      // by Consul while we idled: that shows as a failed read or write before
      // any response, and deserves one try on a fresh connection.
      const bool stale_connection = !sent && reused && !cancelled_.load() &&
                                    (error == httplib::Error::Read || error == httplib::Error::Write ||
                                     error == httplib::Error::Connection);
      if (!stale_connection) break;
    }

    if (cancelled_.load()) return Cancelled(what + ": client cancelled");
    if (too_large) {
      // The endpoint misbehaves (no Consul answer of ours comes near the
      // cap): an error like any other, which the callers back off on.
      const std::string size =
          announced_size > 0 ? " of " + std::to_string(announced_size) + " bytes (its Content-Length)" : "";
      return Internal(what + ": response body" + size + " larger than the " + std::to_string(kMaxResponseBytes) +
                      "-byte limit, refused");
    }
    if (!sent) return Unavailable(what + ": " + TransportError(error));

    HttpResponse out;
    out.status = response.status;
    out.body = std::move(received);
    out.meta = ParseQueryMeta(response.get_header_value("X-Consul-Index"),
                              response.get_header_value("X-Consul-KnownLeader"));
    if (not_found_ok && out.status == 404) {
      // Consul answers a missing key with a 404 that carries X-Consul-Index;
      // a 404 without it comes from something else (a proxy, a wrong
      // address, a path Consul does not know). Taken for "no key", it would
      // make a watch poll that endpoint as fast as answers come back.
      if (response.has_header("X-Consul-Index")) return out;
      return NotFound(what + ": 404 without X-Consul-Index (not Consul's answer for a missing key)" +
                      (FirstLine(out.body).empty() ? std::string() : ": " + FirstLine(out.body)));
    }
    if (unknown_check_is_not_found && IsUnknownCheckError(out.status, out.body)) {
      return NotFound(what + ": " + std::to_string(out.status) + " " + FirstLine(out.body));
    }
    if (Status s = StatusFromHttp(method, path, out.status, out.body); !s.ok()) return s;
    return out;
  }

  std::string TransportError(httplib::Error error) {
    if (error == httplib::Error::SSLServerVerification) {
      // httplib checks the chain first (OpenSSL's verify result), then the
      // host name itself; a failure with a verify result of "ok" is the
      // host-name check (a TLS server always presents a certificate).
      std::string text = "TLS: ";
      long result = X509_V_OK;
      if (auto* tls = dynamic_cast<httplib::SSLClient*>(http_.get())) result = tls->get_openssl_verify_result();
      if (result == X509_V_OK) {
        text += "server certificate does not match host name \"" + verify_name_ + "\"";
      } else {
        text += "certificate verify failed: ";
        text += X509_verify_cert_error_string(result);
      }
      if (std::string detail = OpenSslErrors(); !detail.empty()) text += " (" + detail + ")";
      return text;
    }
    std::string text = httplib::to_string(error);
    if (error == httplib::Error::SSLConnection || error == httplib::Error::SSLLoadingCerts) {
      if (std::string detail = OpenSslErrors(); !detail.empty()) text += " (" + detail + ")";
    }
    return text;
  }

  const std::string token_;  // secret: headers only, never in a message
  const milliseconds request_timeout_;
  std::string tls_server_name_;
  std::string connect_host_;
  std::string verify_name_;  // the name the server certificate must carry (https only)
  Status init_status_;
  std::unique_ptr<httplib::ClientImpl> http_;
  std::atomic<bool> cancelled_{false};
  bool answered_before_ = false;  // the last exchange got an answer (its connection may be kept alive)
};

}  // namespace

std::unique_ptr<Client> MakeHttpClient(const ConsulClientConfig& config,
                                       std::chrono::milliseconds request_timeout) {
  return std::make_unique<HttpClient>(config, request_timeout);
}

}  // namespace resec::consul
