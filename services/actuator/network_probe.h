// Is this host's own network up? Policies are told (LinkContext.network_up)
// so that silence from every source while the host itself is cut off reads
// as "can not tell" rather than as a failure of the room.
//
// SysfsNetworkProbe reads ROOT/*/operstate (ROOT defaults to
// /sys/class/net): the network is up if any interface other than loopback
// (name "lo" or type 772, ARPHRD_LOOPBACK) is "up". When it can not tell it
// answers true, so that a probe problem never stands in for a network
// outage: the directory is unreadable, there is no interface besides
// loopback (a container or test namespace talking over loopback), or an
// interface reports "unknown" (tunnels, some virtual NICs) and none reports
// "up". It answers false only when every non-loopback interface reports a
// definite non-up state (down, lowerlayerdown, dormant, notpresent,
// testing).
//
// Thread-safety: implementations are thread-safe. Ownership: the actuator
// owns its probe.
#ifndef HWCAST_SERVICES_ACTUATOR_NETWORK_PROBE_H_
#define HWCAST_SERVICES_ACTUATOR_NETWORK_PROBE_H_

#include <string>

namespace hwcast::actuator {

class NetworkProbe {
 public:
  virtual ~NetworkProbe() = default;
  // May do a little I/O; called about once a second, outside any lock.
  virtual bool NetworkUp() = 0;
};

// Always up (the default where no probe is given, e.g. in tests).
class AlwaysUpNetworkProbe final : public NetworkProbe {
 public:
  bool NetworkUp() override { return true; }
};

class SysfsNetworkProbe final : public NetworkProbe {
 public:
  explicit SysfsNetworkProbe(std::string root = "/sys/class/net");
  bool NetworkUp() override;

 private:
  const std::string root_;
};

}  // namespace hwcast::actuator

#endif  // HWCAST_SERVICES_ACTUATOR_NETWORK_PROBE_H_
