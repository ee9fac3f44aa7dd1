// Command-line option splitting shared by the daemons (lib/daemon.cc) and
// hwcastctl: "--name=value" carries its value inline; "--name value" and
// short options ("-h") take it from the next argument, as each parser
// decides.
//
// Header-only; no state.
#ifndef HWCAST_LIB_FLAG_ARG_H_
#define HWCAST_LIB_FLAG_ARG_H_

#include <string>
#include <string_view>

namespace hwcast {

struct FlagArg {
  // "--name" (without "=value"), or the argument as given.
  std::string name;
  // What followed the first '=' of a "--name=value" argument.
  std::string value;
  // True for "--name=value" (even "--name=" with an empty value).
  bool has_value = false;
};

// Splits a long option at its first '='; any other argument is returned
// whole as `name`.
inline FlagArg SplitFlagArg(std::string_view arg) {
  FlagArg out;
  if (arg.substr(0, 2) == "--") {
    const size_t eq = arg.find('=');
    if (eq != std::string_view::npos) {
      out.name = std::string(arg.substr(0, eq));
      out.value = std::string(arg.substr(eq + 1));
      out.has_value = true;
      return out;
    }
  }
  out.name = std::string(arg);
  return out;
}

}  // namespace hwcast

#endif  // HWCAST_LIB_FLAG_ARG_H_
