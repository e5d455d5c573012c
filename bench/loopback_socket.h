// Small socket helpers the bench's loopback relays share (relay.h,
// http_tap.h).
//
// Thread-safety: pure functions.
#pragma once

#include <netinet/in.h>

namespace resec::bench {

// 127.0.0.1:port.
sockaddr_in Loopback(int port);
// The local port a socket is bound to; -1 if it cannot be read.
int LocalPort(int fd);

}  // namespace resec::bench
