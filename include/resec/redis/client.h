// redis::Client: the commands the agent sends to its Redis.
//
// An interface so the watcher's unit tests can use a fake; HiredisClient is
// the real one (RAII over redisContext). Every call has the configured
// timeout; a transport error drops the connection and the next call
// reconnects (and re-AUTHs) first.
//
// Thread-safety: one instance per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "resec/config.h"
#include "resec/status.h"

namespace resec::redis {

class Client {
 public:
  virtual ~Client() = default;
  // Connects (and authenticates) if not connected. kUnavailable when the
  // server cannot be reached, kPermissionDenied for a rejected AUTH.
  virtual Status Connect() = 0;
  virtual void Disconnect() = 0;
  virtual bool connected() const = 0;

  virtual StatusOr<std::string> Info() = 0;  // INFO (all default sections)
  virtual Status ReplicaOfNoOne() = 0;
  virtual Status ReplicaOf(const std::string& host, int port) = 0;
  virtual Status KillNormalClients() = 0;  // CLIENT KILL TYPE normal SKIPME yes
  // Any other command; the reply rendered as text (integers in decimal,
  // arrays joined by '\n', nil as ""). Errors from Redis become kFailedPrecondition,
  // no reply within the endpoint's timeout kDeadlineExceeded, a dropped
  // connection kUnavailable.
  virtual StatusOr<std::string> Command(const std::vector<std::string>& argv) = 0;

  // Blocks up to `timeout` waiting for the server to close the connection.
  // kUnavailable as soon as the server is gone (a crashed redis-server closes
  // its sockets, so this notices at once); OK when the time passed quietly.
  // Used on a dedicated connection that sends nothing else.
  virtual Status WaitForDisconnect(std::chrono::milliseconds timeout) = 0;

  // The same watch, for a caller that polls several connections at once
  // (redis::DisconnectWatch): ArmDisconnectWatch() connects and parks the
  // connection (SUBSCRIBE to a channel nobody publishes on); fd() is then
  // its socket (-1 when not connected); when poll(2) says it is readable,
  // DrainReadable() reads what is there and answers kUnavailable once the
  // server has closed the connection.
  virtual Status ArmDisconnectWatch() = 0;
  virtual int fd() const = 0;
  virtual Status DrainReadable() = 0;

  // Our end's address on this connection as the server sees it ("" when not
  // connected, or not TCP): how a former master must address us.
  virtual std::string LocalAddress() const = 0;
};

struct RedisEndpoint {
  HostPort addr;
  std::string username;
  std::string password;  // secret
  std::chrono::milliseconds timeout{2000};
};

std::unique_ptr<Client> MakeHiredisClient(const RedisEndpoint& endpoint);

}  // namespace resec::redis
