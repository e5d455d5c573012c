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
// Turns Nagle off on both sockets of a relayed connection, so bytes go on
// the moment they arrive, as without the relay: with it on, a request
// written in two parts (headers, then body) had its body held until the
// server acknowledged the headers, which Linux delays by up to 40 ms (a
// fifth of our agents' PUTs with a body measured ~45 ms slow).
void RelayWithoutDelay(int client_fd, int upstream_fd);

}  // namespace resec::bench
