#include "services/request_checks.h"

#include <grpcpp/support/server_interceptor.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace nas {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status BadEnum(const std::string& path, int number, const FieldDescriptor* field) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": ", number, " is not a value of ", field->enum_type()->full_name()));
}

absl::Status Walk(const Message& message, const std::string& prefix) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);  // set fields only
  for (const FieldDescriptor* field : fields) {
    const std::string path =
        prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
    if (field->is_repeated()) {
      const int n = reflection->FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        const std::string item = absl::StrCat(path, "[", i, "]");
        if (field->type() == FieldDescriptor::TYPE_ENUM) {
          const int v = reflection->GetRepeatedEnumValue(message, field, i);
          if (field->enum_type()->FindValueByNumber(v) == nullptr) return BadEnum(item, v, field);
        } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          absl::Status st = Walk(reflection->GetRepeatedMessage(message, field, i), item);
          if (!st.ok()) return st;
        }
      }
    } else if (field->type() == FieldDescriptor::TYPE_ENUM) {
      const int v = reflection->GetEnumValue(message, field);
      if (field->enum_type()->FindValueByNumber(v) == nullptr) return BadEnum(path, v, field);
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      absl::Status st = Walk(reflection->GetMessage(message, field), path);
      if (!st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckEnumValues(const Message& message) { return Walk(message, ""); }

namespace {

using grpc::experimental::InterceptionHookPoints;

class UnparsedRequest : public grpc::experimental::Interceptor {
 public:
  explicit UnparsedRequest(const char* method) : method_(method) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // A unary or server-streaming call receives exactly one request; a null one did not parse.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;
    }
    if (unparsed_ && methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) &&
        methods->GetSendStatus().error_code() == grpc::StatusCode::INTERNAL) {
      methods->ModifySendStatus(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("request: the bytes sent do not parse as the request message of ",
                       method_)));
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  bool unparsed_ = false;
};

class UnparsedRequestFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    using Type = grpc::experimental::ServerRpcInfo::Type;
    // A client stream's end also arrives as "no message": leave those calls alone.
    if (info->type() != Type::UNARY && info->type() != Type::SERVER_STREAMING) return nullptr;
    return new UnparsedRequest(info->method());
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
UnparsedRequestInterceptor() {
  return std::make_unique<UnparsedRequestFactory>();
}

}  // namespace nas
