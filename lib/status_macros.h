// Early-return helpers for absl::Status / absl::StatusOr (Abseil 20220623
// ships none).
#ifndef HWCAST_LIB_STATUS_MACROS_H_
#define HWCAST_LIB_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HWCAST_CONCAT_INNER_(a, b) a##b
#define HWCAST_CONCAT_(a, b) HWCAST_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define HWCAST_RETURN_IF_ERROR(expr)                                  \
  do {                                                                \
    if (absl::Status hwcast_status_ = (expr); !hwcast_status_.ok()) { \
      return hwcast_status_;                                          \
    }                                                                 \
  } while (0)

// `HWCAST_ASSIGN_OR_RETURN(auto x, FunctionReturningStatusOr());`
#define HWCAST_ASSIGN_OR_RETURN(lhs, expr)                                  \
  HWCAST_ASSIGN_OR_RETURN_IMPL_(HWCAST_CONCAT_(hwcast_statusor_, __LINE__), \
                                lhs, expr)
#define HWCAST_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // HWCAST_LIB_STATUS_MACROS_H_
