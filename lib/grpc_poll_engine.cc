#include "lib/grpc_poll_engine.h"

#include <cstdlib>

namespace hwcast {

std::string PreferGrpcPollEngine(std::string_view engine) {
  const std::string name(kGrpcPollStrategyEnv);
  const char* set = std::getenv(name.c_str());
  if (set != nullptr && *set != '\0') return set;
  ::setenv(name.c_str(), std::string(engine).c_str(), /*overwrite=*/1);
  return std::string(engine);
}

}  // namespace hwcast
