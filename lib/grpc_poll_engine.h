// Chooses gRPC's polling engine for a process whose gRPC traffic is mostly
// one client stream read by one thread (the actuator's subscriptions).
//
// Why: gRPC 1.51 on Linux defaults to its "epoll1" engine, where every
// polling thread of the process waits on ONE epoll set. A process that also
// serves (AsyncLoop's "grpc-io" thread waits on its server queue) then has
// two threads taking each other's socket events: a message of a
// subscription stream often wakes grpc-io, which reads it and wakes the
// stream's own thread, two wake-ups per message instead of one. The "poll"
// engine gives every completion queue its own set of descriptors, so a
// call's socket wakes only the thread waiting on that call. Measured with
// bench/actuator_footprint.py (bench/README.md, "The actuator on gRPC's
// poll engine"): grpc-io's share of the actuator's CPU went to 0.
//
// Not for the relay: its traffic is its server's, on one queue and one
// thread, where epoll1 is the engine gRPC tunes for many connections.
#ifndef HWCAST_LIB_GRPC_POLL_ENGINE_H_
#define HWCAST_LIB_GRPC_POLL_ENGINE_H_

#include <string>
#include <string_view>

namespace hwcast {

// The environment variable gRPC reads its engine from, once, when it
// initializes.
inline constexpr std::string_view kGrpcPollStrategyEnv = "GRPC_POLL_STRATEGY";

// Sets GRPC_POLL_STRATEGY to `engine` unless the environment already names
// one (an operator's choice, e.g. "epoll1" in a systemd drop-in, wins).
// Returns the value in force afterwards. Call first thing in main(), before
// any gRPC object exists: gRPC reads the variable once, at its first
// initialization, and a later change has no effect. Not thread-safe (it
// writes the environment).
std::string PreferGrpcPollEngine(std::string_view engine);

}  // namespace hwcast

#endif  // HWCAST_LIB_GRPC_POLL_ENGINE_H_
