// Errors as values at module edges (Abseil-style codes, much reduced).
//
// Status is a code plus a message. kUnavailable means "retry with backoff";
// kFailedPrecondition / kInvalidArgument / kPermissionDenied mean "retrying
// will not help until someone fixes something". Adapters (hiredis, httplib,
// JSON) turn their failures into Status; nothing above them throws.
//
// Thread-safety: value types, no shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace resec {

enum class StatusCode {
  kOk,
  kInvalidArgument,
  kNotFound,
  kPermissionDenied,
  kFailedPrecondition,
  kUnavailable,
  kDeadlineExceeded,
  kCancelled,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "UNAVAILABLE: connection refused" style, for logs.
  std::string ToString() const;
  // The HTTP status of the answer this error came from; 0 when there was no
  // answer (a failed exchange) or no HTTP at all. Lets callers tell "Consul
  // said 503" from "Consul did not answer", which share a code.
  int http_status() const { return http_status_; }
  Status&& WithHttpStatus(int http_status) && {
    http_status_ = http_status;
    return std::move(*this);
  }

  bool operator==(const Status& other) const = default;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  int http_status_ = 0;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or the Status explaining why there is none. Never holds an OK status
// without a value.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Status(StatusCode::kInternal, "StatusOr built from OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return *std::move(value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  Status status_;  // OK exactly when value_ holds a value
  std::optional<T> value_;
};

}  // namespace resec
