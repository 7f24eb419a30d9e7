// Early-return macros for absl::Status and absl::StatusOr.
//
// Debian's Abseil (20220623) ships no status macros, so the project carries these two:
//
//   NAS_RETURN_IF_ERROR(ValidateSpec(spec));
//   NAS_ASSIGN_OR_RETURN(SearchSpaceDef space, ResolveSpace(spec.space()));
//
// They live in search/ because it is the lowest pure-C++ package every other one may use.
#ifndef NAS_COMMON_STATUS_MACROS_H_
#define NAS_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define NAS_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status nas_status_ = (expr);       \
    if (!nas_status_.ok()) return nas_status_; \
  } while (0)

#define NAS_STATUS_CONCAT_INNER_(a, b) a##b
#define NAS_STATUS_CONCAT_(a, b) NAS_STATUS_CONCAT_INNER_(a, b)

#define NAS_ASSIGN_OR_RETURN(lhs, expr) \
  NAS_ASSIGN_OR_RETURN_IMPL_(NAS_STATUS_CONCAT_(nas_statusor_, __LINE__), lhs, expr)

#define NAS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  if (!statusor.ok()) return statusor.status();         \
  lhs = std::move(statusor).value()

#endif  // NAS_COMMON_STATUS_MACROS_H_
