// Checks every request gets before its handler runs, whatever the method.
//
//   absl::Status st = CheckEnumValues(request);  // "spec.recipe.optimizer: 9 is not a value of
//                                                //  nas.v1.Optimizer"
#ifndef NAS_SERVICES_REQUEST_CHECKS_H_
#define NAS_SERVICES_REQUEST_CHECKS_H_

#include <google/protobuf/message.h>

#include <memory>

#include "absl/status/status.h"

namespace grpc {
namespace experimental {
class ServerInterceptorFactoryInterface;
}  // namespace experimental
}  // namespace grpc

namespace nas {

// CheckEnumValues() walks every set field of `message`, nested messages and repeated fields
// included, and returns InvalidArgument naming the first enum field whose number is not a value
// of its enum (proto3 keeps unknown numbers, so a client can send 9 where 0-3 are defined).
absl::Status CheckEnumValues(const google::protobuf::Message& message);

// UnparsedRequestInterceptor() returns a server interceptor factory that answers a unary or
// server-streaming call whose request bytes do not parse with INVALID_ARGUMENT naming the
// method, instead of the INTERNAL with an empty message that gRPC's C++ server sends (it
// decides before any handler runs; the interceptor rewrites that status as it is sent).
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> UnparsedRequestInterceptor();

}  // namespace nas

#endif  // NAS_SERVICES_REQUEST_CHECKS_H_
