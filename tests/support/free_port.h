// FreePort: loopback TCP/UDP ports for the servers a test starts.
//
// Ports are probed at random in [20000, 32000): below Linux's default
// ephemeral range (32768-60999), so outgoing connections of this or any other
// process do not take them between the probe and the server's bind; and low
// enough that port + 10000 (Redis Cluster's bus port) is still a valid port. A
// port is handed out only if both a TCP and a UDP socket can bind it on
// 127.0.0.1 (Consul's Serf uses both), and never twice in one process.
//
// The hand-out set is the one piece of process-wide mutable state in the rig:
// without it two fixtures of one test could get the same port before either
// binds. It lives in a function-local static behind a mutex.
//
// Thread-safety: thread-safe.
#pragma once

namespace resec::testing {

// A port nobody listens on right now. Another process can still take it before
// the server binds; fixtures that start a server on a fresh port retry with a
// new one when the bind fails. Aborts the test (ADD_FAILURE, returns 0) if no
// port is found after many probes.
int FreePort();

}  // namespace resec::testing
